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
            systemd StandardInput=socket). SIGTERM/SIGINT stop it cleanly.
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
        // auth.*, http.body_budget_bytes and files.* are resolved and checked here and wait in `settings` for
        // their features.
        let logger = Logger(label: "runjournal.serve")
        let policy = settings.fsync
        let store: JournalStore
        do {
            var storeLogger = Logger(label: "runjournal")
            storeLogger.logLevel = settings.logLevel
            store = try JournalStore(directory: settings.journalDirectory, fsyncPolicy: policy, logger: storeLogger)
        } catch {
            throw CLIFailure("journal directory \(settings.journalDirectory): \(JournalOptions.reason(error))")
        }
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

        var api = RunsAPIConfiguration(startedAtMillis: clock.nowMillis())
        api.heartbeatSeconds = settings.heartbeatSeconds
        api.idleTimeoutSeconds = settings.idleTimeoutSeconds
        api.stopGraceSeconds = settings.stopGraceSeconds
        api.retryMillis = settings.retryMillis
        let context = RunsContext(
            store: store, configuration: api,
            follower: TailerFollower(tailer: journalTailer, syncBeforePublish: policy == .always),
            clock: clock, logger: logger)
        let streamGauge = StreamCapacityGauge(limit: settings.maxStreams)
        let service = HealthEndpoints(
            wrapping: RunsService(context: context),
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
            server = try FastCGIServer(
                configuration: FastCGIServerConfiguration(
                    listen: listenMode, maxBodyBytes: settings.maxBodyBytes, maxStreams: settings.maxStreams,
                    stopGracePeriod: .seconds(settings.shutdownGraceSeconds)),
                handler: service, logger: logger, observer: RequestLog(logger: Logger(label: "runjournal.http")))
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
