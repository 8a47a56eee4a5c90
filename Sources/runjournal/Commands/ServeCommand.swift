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
            systemd StandardInput=socket). SIGTERM/SIGINT stop it cleanly.
            """
    )

    @OptionGroup var journal: JournalOptions
    @OptionGroup var fsync: FsyncOption
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
        // Before anything that records: the store, tailer and API take their metric objects at creation.
        let metrics = PrometheusExposition.bootstrap(startedAtMillis: SystemClock().nowMillis())
        let policy = try fsync.policy()
        let store = try journal.openStore(fsync: policy, logLevel: .info)
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
        var context = RunsContext(
            store: store, configuration: api,
            follower: TailerFollower(tailer: journalTailer, syncBeforePublish: policy == .always),
            clock: clock, logger: logger)
        context.metricsExposition = metrics
        let service = RunsService(context: context)

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
            server = try FastCGIServer(
                configuration: FastCGIServerConfiguration(
                    listen: listenMode, maxBodyBytes: maxBody, maxStreams: maxStreams,
                    stopGracePeriod: .seconds(shutdownGrace)),
                handler: service, logger: logger)
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
