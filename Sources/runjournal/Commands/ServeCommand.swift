import ArgumentParser
import FastCGIServer
import JournalTailer
import Logging
import RunJournal
import RunsAPI
import ServeConfiguration

/// `runjournal serve`: the FastCGI responder for the runs API, behind nginx or lighttpd.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the runs API over FastCGI (behind nginx or lighttpd).",
        discussion: """
            Listens on --socket PATH (a unix socket, mode 0660; a stale socket file is replaced, a live one is an \
            error) or --listen HOST:PORT; with neither, serves the listening socket inherited on fd 0 (spawn-fcgi, \
            systemd StandardInput=socket). SIGTERM/SIGINT stop it cleanly; SIGHUP re-reads the tokens file and the \
            signing key file.
            Every setting can also come from the --config file or a RUNJOURNAL_* variable (flags win, then the \
            environment, then the file); `runjournal config check` shows the result.
            """
    )

    /// Every setting as a flag, and `--config FILE`; resolved with the environment and the file in `run()`.
    @OptionGroup var flags: ServeSettingFlags

    func run() throws {
        // Resolved before any logger exists: log.level sets the level of every logger made after it.
        let settings = try flags.resolve().settings
        ProcessLogLevel.current = settings.logLevel
        try Self.validateHardening(settings)
        let logger = Logger(label: "runjournal.serve")
        // Before anything that records: the store, tailer and API take their metric objects at creation.
        let metrics = PrometheusExposition.bootstrap(startedAtMillis: SystemClock().nowMillis())
        let policy = settings.fsync
        let store = try Self.openHardenedStore(settings, logger: logger)
        Self.warnIfListeningUnprotected(settings, logger: logger)
        do {
            let removed = try store.removeAbandonedCreateFiles()
            if !removed.isEmpty {
                logger.notice("removed temporary files abandoned by crashed creates", metadata: ["files": "\(removed)"])
            }
        } catch {
            logger.warning("cannot clean up abandoned temporary files", metadata: ["error": "\(error)"])
        }
        let clock = SystemClock()
        let pollInterval = Duration.milliseconds(settings.pollIntervalMillis)
        let tailerMode: TailerMode = settings.tailerMode == .poll ? .poll(interval: pollInterval) : .inotify
        let journalTailer = JournalTailer(mode: tailerMode, pollInterval: pollInterval, logger: logger)
        // This process's own appends reach its streams straight from the appending thread, and with
        // fsync=always the append's sync stands for the tailer's. `--tailer poll` stays the pure polling
        // baseline it is there to be.
        if settings.tailerMode != .poll { store.observeAppends(journalTailer) }

        var api = RunsAPIConfiguration(startedAtMillis: clock.nowMillis())
        api.heartbeatSeconds = settings.heartbeatSeconds
        api.idleTimeoutSeconds = settings.idleTimeoutSeconds
        api.stopGraceSeconds = settings.stopGraceSeconds
        api.retryMillis = settings.retryMillis
        var context = RunsContext(
            store: store, configuration: api,
            follower: TailerFollower(tailer: journalTailer, syncBeforePublish: policy == .always),
            clock: clock, logger: logger)
        context.metricsExposition = metrics
        let accessControl: AccessControl
        do {
            accessControl = try AccessControl(
                settings: AuthSettings(tokensFile: settings.authTokensFile, signingKeyFile: settings.signingKeyFile),
                logger: logger)
        } catch {
            throw CLIFailure("\(error)")
        }
        let streamGauge = StreamCapacityGauge(limit: settings.maxStreams)
        let service = HealthEndpoints(
            wrapping: RunsService(context: context, accessControl: accessControl),
            readiness: ReadinessCheck(store: store, streams: { streamGauge.reading }))

        let listenMode: FastCGIServerConfiguration.Listen
        if let socket = settings.socketPath {
            listenMode = .unixSocket(path: socket)
        } else if let address = settings.listenAddress {
            listenMode = .tcp(host: address.host, port: address.port)
        } else {
            listenMode = .inheritedFD0
        }
        let server: FastCGIServer
        do {
            var serverConfiguration = FastCGIServerConfiguration(
                listen: listenMode, maxBodyBytes: settings.maxBodyBytes, bodyBudgetBytes: settings.bodyBudgetBytes,
                maxStreams: settings.maxStreams, stopGracePeriod: .seconds(settings.shutdownGraceSeconds))
            serverConfiguration.onReload = { accessControl.reload() }
            server = try FastCGIServer(
                configuration: serverConfiguration, handler: service, logger: logger,
                observer: RequestLog(logger: Logger(label: "runjournal.http")))
        } catch {
            throw CLIFailure("\(error)")
        }
        streamGauge.attach(server)
        do {
            try LifecycleSweeper(context: context, intervalSeconds: settings.sweepIntervalSeconds).start()
        } catch {
            throw CLIFailure("\(error)")
        }
        logger.info(
            "serving runs API",
            metadata: [
                "journal": "\(store.directory)", "fsync": "\(policy)", "tailer": "\(settings.tailerMode.rawValue)",
                "heartbeat": "\(settings.heartbeatSeconds)s",
                "idle_timeout": "\(settings.idleTimeoutSeconds.map { "\($0)s" } ?? "off")",
                "stop_grace": "\(settings.stopGraceSeconds)s",
            ])
        defer { context.shutdown.trigger() }
        do {
            try server.run()
        } catch {
            throw CLIFailure("\(error)")
        }
        logger.info("stopped")
    }
}
