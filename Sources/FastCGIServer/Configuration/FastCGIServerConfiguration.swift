#if canImport(Glibc)
import Glibc
#endif

/// Everything the FastCGI responder needs to know before it starts: where to listen and the limits that
/// protect the process (body size, stream count, thread stacks). The CLI builds one from its flags; tests
/// build small ones. Defaults are the production values documented in docs/architecture.md.
public struct FastCGIServerConfiguration: Sendable {
    /// Where FastCGI connections come from.
    public enum Listen: Sendable, Equatable, CustomStringConvertible {
        /// A unix socket created (mode `socketMode`) at `path`; a stale socket file is replaced, a live
        /// one is an error.
        case unixSocket(path: String)
        /// A TCP socket bound to `host:port` (`port` 0 picks a free port, see `FastCGIServer.boundPort`).
        case tcp(host: String, port: Int)
        /// The listening socket inherited on file descriptor 0 (spawn-fcgi, systemd `StandardInput=socket`).
        case inheritedFD0

        public var description: String {
            switch self {
            case .unixSocket(let path): return "unix:\(path)"
            case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .inheritedFD0: return "inherited fd 0"
            }
        }
    }

    public var listen: Listen
    /// Largest request body accepted; a larger declared or actual body is answered 413 (`--max-body`).
    public var maxBodyBytes: Int
    /// Bytes of request bodies held at once across all requests (`--body-budget`); a request whose body
    /// does not fit is answered 503 + `Retry-After` (see `BodyBudget`).
    public var bodyBudgetBytes: Int
    /// Streaming responses allowed at once (`--max-streams`); one more gets the `retry:` answer of
    /// `StreamLimitRefusal`, on which a browser's EventSource reconnects by itself.
    public var maxStreams: Int
    /// The `Retry-After` value (seconds) sent with a 503, and the `retry:` hint (in milliseconds) of the
    /// answer to a stream over `maxStreams`.
    public var retryAfterSeconds: Int
    /// Requests (short and streaming) served at once, i.e. the most worker threads. Nil means
    /// `maxStreams + 1024`: streams can never starve short requests of a thread. Past it a request is
    /// answered 503 at once, never left waiting in the listen backlog.
    public var maxConcurrentRequests: Int?
    /// Stack size of each worker thread. Small because a stream parks a thread for its whole life; see
    /// docs/architecture.md for the measured depth and the margin. Enable `measuresStackUsage` to re-measure.
    public var workerStackSize: Int
    /// Idle worker threads kept for reuse; a worker finishing while this many are idle exits, so the
    /// thread count returns to baseline after a burst. 128 rather than a handful: below the web server's
    /// usual short-request concurrency every request pays a thread exit and a thread creation (measured in
    /// bench/http: 64 connections ran 25-50 % slower with 16 spares), while an idle spare costs only the
    /// few stack pages it touched.
    public var spareWorkerLimit: Int
    /// A spare worker idle this long exits, down to `spareWorkerFloor`: the 128 spares are for bursts of
    /// short requests, and a quiet responder holding 19,000 parked streams on one loop thread need not keep
    /// them. 30 s: longer than the gaps within a burst, so a busy responder never pays thread creations.
    public var spareWorkerIdleTimeout: Duration = .seconds(30)
    /// Spares kept however long they idle.
    public var spareWorkerFloor: Int = 4
    /// Threads blocked in accept(2); each accepted connection is handed straight to a worker, which reads
    /// its requests.
    public var acceptorThreads: Int
    /// `listen(2)` backlog for sockets this server creates (the kernel caps it at `net.core.somaxconn`).
    public var listenBacklog: Int32
    /// Permission bits of a created unix socket. 0660: the web server must run as the socket's owner or
    /// group; nobody else may connect (connecting is all it takes to submit requests).
    public var socketMode: mode_t
    /// How long `stop()` lets in-flight requests and streams finish before their connections are shut down
    /// (`--stop-grace`). Streams are told to stop at once through their hangup handlers.
    public var stopGracePeriod: Duration
    /// Whether `run()` turns SIGTERM/SIGINT into `stop()` (a second signal forces the stop) and SIGHUP into
    /// `onReload`. Off for servers embedded in tests.
    public var handlesSignals: Bool
    /// How long a connection the web server keeps may stay silent before the responder closes it. nginx
    /// closes idle kept connections itself (`keepalive_timeout`, 60 s in deploy/nginx.conf); this only
    /// frees the worker of a connection whose peer vanished without closing it. Keep it above the web
    /// server's own idle timeout: a request nginx sends just as the responder closes is lost.
    public var keptConnectionIdleTimeout: Duration
    /// Paints each worker stack and records the deepest use (`FastCGIServer.statistics`). Costs a full
    /// stack's worth of RSS per thread: a measurement tool, never for production.
    public var measuresStackUsage: Bool
    /// Fault seam for tests: asked before each new worker thread is started; an errno it returns makes the
    /// start fail as if `pthread_create` had returned it (EAGAIN), so the refusal path (a 503 for that
    /// request, the server carrying on) is tested without exhausting the machine's threads. Nil in production.
    public var workerThreadStartFault: (@Sendable () -> Int32?)? = nil
    /// Called on SIGHUP (with `handlesSignals`), on the signal thread: re-read what can change without a
    /// restart (the tokens file). Nil: SIGHUP is logged and ignored. It never ends the process.
    public var onReload: (@Sendable () -> Void)? = nil

    public init(
        listen: Listen,
        maxBodyBytes: Int = 1 << 20,
        bodyBudgetBytes: Int = 256 << 20,
        maxStreams: Int = 10_000,
        retryAfterSeconds: Int = 5,
        maxConcurrentRequests: Int? = nil,
        workerStackSize: Int = 256 * 1024,
        spareWorkerLimit: Int = 128,
        acceptorThreads: Int = 2,
        listenBacklog: Int32 = 4096,
        socketMode: mode_t = 0o660,
        stopGracePeriod: Duration = .seconds(5),
        handlesSignals: Bool = true,
        keptConnectionIdleTimeout: Duration = .seconds(300),
        measuresStackUsage: Bool = false
    ) {
        self.listen = listen
        self.maxBodyBytes = maxBodyBytes
        self.bodyBudgetBytes = bodyBudgetBytes
        self.maxStreams = maxStreams
        self.retryAfterSeconds = retryAfterSeconds
        self.maxConcurrentRequests = maxConcurrentRequests
        self.workerStackSize = workerStackSize
        self.spareWorkerLimit = spareWorkerLimit
        self.acceptorThreads = acceptorThreads
        self.listenBacklog = listenBacklog
        self.socketMode = socketMode
        self.stopGracePeriod = stopGracePeriod
        self.handlesSignals = handlesSignals
        self.keptConnectionIdleTimeout = keptConnectionIdleTimeout
        self.measuresStackUsage = measuresStackUsage
    }

    /// The request cap actually applied.
    public var effectiveMaxConcurrentRequests: Int { maxConcurrentRequests ?? (maxStreams + 1024) }

    /// The smallest stack a worker may be given: below this even the transport's own frames do not fit.
    public static let minimumWorkerStackSize = 64 * 1024

    func validate() throws(FastCGIServerError) {
        func invalid(_ message: String) -> FastCGIServerError { FastCGIServerError(.invalidConfiguration, message) }
        guard maxBodyBytes >= 0 else { throw invalid("maxBodyBytes must not be negative (got \(maxBodyBytes))") }
        guard bodyBudgetBytes >= 0 else { throw invalid("bodyBudgetBytes must not be negative (got \(bodyBudgetBytes))") }
        guard maxStreams >= 0 else { throw invalid("maxStreams must not be negative (got \(maxStreams))") }
        guard retryAfterSeconds >= 0 else { throw invalid("retryAfterSeconds must not be negative") }
        guard effectiveMaxConcurrentRequests >= 1 else { throw invalid("maxConcurrentRequests must be at least 1") }
        guard workerStackSize >= Self.minimumWorkerStackSize else {
            throw invalid("workerStackSize must be at least \(Self.minimumWorkerStackSize) bytes (got \(workerStackSize))")
        }
        guard spareWorkerLimit >= 0 else { throw invalid("spareWorkerLimit must not be negative") }
        guard (1...64).contains(acceptorThreads) else { throw invalid("acceptorThreads must be 1...64 (got \(acceptorThreads))") }
        guard listenBacklog >= 1 else { throw invalid("listenBacklog must be at least 1") }
        guard stopGracePeriod >= .zero else { throw invalid("stopGracePeriod must not be negative") }
        guard keptConnectionIdleTimeout >= .milliseconds(1) else { throw invalid("keptConnectionIdleTimeout must be at least 1 ms") }
        if case .tcp(_, let port) = listen, !(0...65535).contains(port) {
            throw invalid("TCP port must be 0...65535 (got \(port))")
        }
        if case .unixSocket(let path) = listen, path.isEmpty {
            throw invalid("the unix socket path is empty")
        }
    }
}
