import ArgumentParser
import FastCGIServer
import JournalTailer
import Logging
import RunJournal
import RunsAPI

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
            """
    )

    @OptionGroup var journal: JournalOptions
    @OptionGroup var fsync: FsyncOption
    @OptionGroup var auth: AuthOptions
    @Option(help: ArgumentHelp("Listen on a unix socket at this path.", valueName: "path")) var socket: String?
    @Option(help: ArgumentHelp("Listen on TCP HOST:PORT.", valueName: "host:port")) var listen: String?
    @Option(help: ArgumentHelp("Seconds without a write before a heartbeat comment.", valueName: "seconds"))
    var heartbeat: Int = 15
    @Option(
        name: .customLong("idle-timeout"),
        help: ArgumentHelp("Seconds of silence before the watchdog fails a run, or off.", valueName: "seconds|off"))
    var idleTimeout: String = "300"
    @Option(
        name: .customLong("stop-grace"),
        help: ArgumentHelp("Seconds after a stop request before the server appends run.stopped.", valueName: "seconds"))
    var stopGrace: Int = 30
    @Option(name: .customLong("max-streams"), help: "Concurrent event streams; one more gets 503 + Retry-After.")
    var maxStreams: Int = 10_000
    @Option(name: .customLong("max-body"), help: ArgumentHelp("Largest request body accepted.", valueName: "bytes"))
    var maxBody: Int = 1 << 20
    @Option(name: .customLong("retry-ms"), help: "The SSE retry: hint, in milliseconds.") var retryMs: Int = 1000
    @Option(help: ArgumentHelp("inotify (default) or poll.", valueName: "inotify|poll")) var tailer: String = "inotify"
    @Option(name: .customLong("poll-interval-ms"), help: "Polling interval where inotify is unavailable (or with --tailer poll).")
    var pollIntervalMs: Int = 250
    @Option(name: .customLong("sweep-interval"), help: ArgumentHelp("Seconds between lifecycle sweeps of unwatched runs.", valueName: "seconds"))
    var sweepInterval: Double = 10
    @Option(
        name: .customLong("shutdown-grace"),
        help: ArgumentHelp("Seconds in-flight requests get to finish on SIGTERM.", valueName: "seconds"))
    var shutdownGrace: Int = 5

    // Hardening and limits (see ServeCommand+Hardening.swift).
    @Option(
        name: .customLong("body-budget"),
        help: ArgumentHelp("Request body bytes held at once across all requests; past it 503 + Retry-After.", valueName: "bytes"))
    var bodyBudget: Int = 256 << 20
    @Option(
        name: .customLong("journal-file-mode"),
        help: ArgumentHelp("Permission bits of created journals, markers and the index (octal).", valueName: "mode"))
    var journalFileMode: String = "0640"
    @Option(
        name: .customLong("journal-dir-mode"),
        help: ArgumentHelp("Permission bits of created directories, the journal directory included (octal).", valueName: "mode"))
    var journalDirMode: String = "0750"

    func validate() throws {
        if socket != nil && listen != nil { throw ValidationError("give --socket or --listen, not both") }
        if let listen, Self.parseListen(listen) == nil { throw ValidationError("--listen must be HOST:PORT (got \(listen))") }
        guard heartbeat > 0 else { throw ValidationError("--heartbeat must be > 0 seconds") }
        guard idleTimeout == "off" || (Int(idleTimeout).map { $0 > 0 } ?? false) else {
            throw ValidationError("--idle-timeout must be a number of seconds > 0, or off (got \(idleTimeout))")
        }
        guard stopGrace > 0 else { throw ValidationError("--stop-grace must be > 0 seconds") }
        guard maxStreams >= 0 else { throw ValidationError("--max-streams must be >= 0") }
        guard maxBody >= 0 else { throw ValidationError("--max-body must be >= 0") }
        guard retryMs >= 0 else { throw ValidationError("--retry-ms must be >= 0") }
        guard tailer == "inotify" || tailer == "poll" else { throw ValidationError("--tailer must be inotify or poll") }
        guard pollIntervalMs > 0 else { throw ValidationError("--poll-interval-ms must be > 0") }
        guard sweepInterval > 0 else { throw ValidationError("--sweep-interval must be > 0") }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must be >= 0") }
        try validateHardening()
        _ = try fsync.policy()
    }

    static func parseListen(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() throws {
        let logger = Logger(label: "runjournal.serve")
        let policy = try fsync.policy()
        let store = try openHardenedStore(fsync: policy, logger: logger)
        warnIfListeningUnprotected(logger: logger)
        do {
            let removed = try store.removeAbandonedCreateFiles()
            if !removed.isEmpty {
                logger.notice("removed temporary files abandoned by crashed creates", metadata: ["files": "\(removed)"])
            }
        } catch {
            logger.warning("cannot clean up abandoned temporary files", metadata: ["error": "\(error)"])
        }
        let clock = SystemClock()
        let tailerMode: TailerMode = tailer == "poll" ? .poll(interval: .milliseconds(pollIntervalMs)) : .inotify
        let journalTailer = JournalTailer(mode: tailerMode, pollInterval: .milliseconds(pollIntervalMs), logger: logger)

        var api = RunsAPIConfiguration(startedAtMillis: clock.nowMillis())
        api.heartbeatSeconds = heartbeat
        api.idleTimeoutSeconds = idleTimeout == "off" ? nil : Int(idleTimeout)
        api.stopGraceSeconds = stopGrace
        api.retryMillis = retryMs
        let context = RunsContext(
            store: store, configuration: api,
            follower: TailerFollower(tailer: journalTailer, syncBeforePublish: policy == .always),
            clock: clock, logger: logger)
        let accessControl: AccessControl
        do {
            accessControl = try AccessControl(settings: auth.settings, logger: logger)
        } catch {
            throw CLIFailure("\(error)")
        }
        let service = RunsService(context: context, accessControl: accessControl)

        let listenMode: FastCGIServerConfiguration.Listen
        if let socket {
            listenMode = .unixSocket(path: socket)
        } else if let listen, let (host, port) = Self.parseListen(listen) {
            listenMode = .tcp(host: host, port: port)
        } else {
            listenMode = .inheritedFD0
        }
        let server: FastCGIServer
        do {
            var serverConfiguration = FastCGIServerConfiguration(
                listen: listenMode, maxBodyBytes: maxBody, bodyBudgetBytes: bodyBudget, maxStreams: maxStreams,
                stopGracePeriod: .seconds(shutdownGrace))
            serverConfiguration.onReload = { accessControl.reload() }
            server = try FastCGIServer(configuration: serverConfiguration, handler: service, logger: logger)
        } catch {
            throw CLIFailure("\(error)")
        }
        do {
            try LifecycleSweeper(context: context, intervalSeconds: sweepInterval).start()
        } catch {
            throw CLIFailure("\(error)")
        }
        logger.info(
            "serving runs API",
            metadata: [
                "journal": "\(store.directory)", "fsync": "\(policy)", "tailer": "\(tailer)",
                "heartbeat": "\(heartbeat)s", "idle_timeout": "\(idleTimeout)", "stop_grace": "\(stopGrace)s",
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
