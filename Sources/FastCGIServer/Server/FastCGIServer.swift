import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport
import RunsAPI
import Synchronization

/// The FastCGI responder: accepts requests from nginx or lighttpd through libfcgi, decodes them into
/// `HTTPRequest`s for an `HTTPHandler`, and writes the `HTTPResponse`s back. A `.stream` body (SSE) starts on
/// the request's worker thread and, once it parks its live phase, goes on on the `StreamLoop` (one thread for
/// every stream). It is the only module that knows about FastCGI; everything above it is plain Swift. The
/// thread model and its capacity reasoning are in docs/architecture.md.
///
/// The server's parts, by file: this one (state, start, `run`), `+Accepting` (acceptor threads, dispatch to
/// workers), `+Connections` (a worker on a connection and the kept connection's next requests),
/// `+Responses` (one request: body, handler, complete responses), `+Streams` (stream responses and parking),
/// `+Admission` (capacity refusals), `+Stopping` (signals, grace period), `+Process` (descriptor limit).
///
/// ```swift
/// let server = try FastCGIServer(configuration: .init(listen: .unixSocket(path: socketPath)),
///                                handler: api, logger: logger)
/// try server.run()   // blocks until stop() or SIGTERM/SIGINT
/// ```
public final class FastCGIServer: Sendable {
    public let configuration: FastCGIServerConfiguration
    let handler: any HTTPHandler
    let logger: Logger
    /// Told about every request once it is answered (the request log).
    let observer: (any RequestObserver)?
    let socket: ListeningSocket
    let pool: WorkerPool
    let monitor: HangupMonitor
    /// Carries every stream's live phase after its replay (one thread for all of them).
    let streamLoop: StreamLoop
    let probe: StackProbe?
    let activeStreams = Atomic<Int>(0)
    let bodyBudget: BodyBudget
    let connectionsAccepted = Atomic<Int>(0)
    let requestsServed = Atomic<Int>(0)
    let maxConcurrent: Int
    /// How long a new connection may take to send its first request before it is closed.
    static let firstRequestTimeout = Duration.seconds(5)
    /// The listening socket is TCP (`--listen`, or an inherited TCP socket): accepted connections get TCP_NODELAY.
    let acceptsTCP: Bool

    // Lifecycle, guarded by `lifecycleLock`.
    let lifecycleLock = ConditionLock()
    let lifecycleChanged = Condition()
    nonisolated(unsafe) var phase = Phase.idle
    nonisolated(unsafe) var stopRequested = false
    nonisolated(unsafe) var forceRequested = false
    nonisolated(unsafe) var acceptorsMustExit = false
    nonisolated(unsafe) var acceptors: [Acceptor] = []
    nonisolated(unsafe) var acceptFailure: FastCGIServerError?

    /// Open connections by request, so a stop that outlasts its grace period can shut them down. Guarded by
    /// `connectionsLock`, a plain pthread mutex: every request takes it twice, from up to thousands of
    /// threads, and `Synchronization.Mutex`'s spinning slow path cost 20 % of the responder's CPU under load.
    nonisolated(unsafe) var connections: [UInt64: Int32] = [:]
    let connectionsLock = ConditionLock()
    let nextConnectionID = Atomic<UInt64>(1)

    /// Workers parked on a kept connection, waiting for its next request, by the id of their wait, so a
    /// stop can wake them (with the acceptors'
    /// wake-up signal; the thread exists while it is listed here). Guarded by `connectionsLock`, like
    /// `keptConnectionsClosing`, which refuses new waits once the stop has begun.
    nonisolated(unsafe) var waitingForRequests: [UInt64: pthread_t] = [:]
    nonisolated(unsafe) var keptConnectionsClosing = false

    enum Phase {
        case idle, running, stopped
    }

    final class Acceptor: @unchecked Sendable {
        // Guarded by the server's lifecycle lock.
        var thread: pthread_t?
        var exited = false
    }

    /// Creates the listening socket (so a live socket, a bad path or a busy port is reported here, before
    /// anything runs) but accepts nothing until `run()`.
    public init(
        configuration: FastCGIServerConfiguration, handler: any HTTPHandler, logger: Logger,
        observer: (any RequestObserver)? = nil
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        self.observer = observer
        maxConcurrent = configuration.effectiveMaxConcurrentRequests
        bodyBudget = BodyBudget(limit: configuration.bodyBudgetBytes)
        probe = configuration.measuresStackUsage ? StackProbe() : nil
        monitor = try HangupMonitor(logger: logger)
        // The loop hands back kept connections whose next request arrives; it is created before `self` is
        // complete, so it reaches the server through this box.
        let dispatcher = KeptConnectionDispatcher()
        streamLoop = try StreamLoop(
            settings: StreamLoop.Settings(keptConnectionIdleTimeout: configuration.keptConnectionIdleTimeout),
            logger: logger, dispatchKeptConnection: { fd in dispatcher.dispatch(fd) })
        pool = WorkerPool(
            stackSize: configuration.workerStackSize, spareLimit: configuration.spareWorkerLimit,
            maxBusy: maxConcurrent, probe: probe, spareIdleTimeout: configuration.spareWorkerIdleTimeout,
            spareFloor: configuration.spareWorkerFloor, startFault: configuration.workerThreadStartFault)
        socket = try ListeningSocket.open(configuration)
        let family = runjournal_socket_family(socket.fd)
        acceptsTCP = family == AF_INET || family == AF_INET6
        dispatcher.target = { [weak self] fd in
            guard let self else {
                _ = close(fd)
                return
            }
            self.dispatch(FastCGIConnection(acceptedFD: fd))
        }
    }

    deinit {
        if phase == .idle { socket.close() }
    }

    /// The TCP port actually listened on (nil for unix sockets); useful with `.tcp(host:port: 0)`.
    public var boundPort: Int? { socket.boundPort }

    /// Serves until `stop()` (or, with `handlesSignals`, SIGTERM/SIGINT), then stops accepting, lets
    /// in-flight requests finish, ends streams (their hang-up handlers are called at once, connections
    /// still open after `stopGracePeriod` are shut down) and returns. Throws if serving could not start or
    /// the listening socket failed; can be called once.
    public func run() throws {
        let wasIdle = lifecycleLock.withLock { () -> Bool in
            guard phase == .idle else { return false }
            phase = .running
            return true
        }
        guard wasIdle else { throw FastCGIServerError(.alreadyRunning, "run() was already called on this server") }
        var signalSubscription: UInt64?
        defer {
            if let signalSubscription { SignalRelay.shared.unsubscribe(signalSubscription) }
            socket.close()
            lifecycleLock.withLock {
                phase = .stopped
                lifecycleChanged.broadcast()
            }
        }

        try FastCGIConnection.initializeLibrary()
        guard runjournal_install_wake_handler() == 0 else {
            throw FastCGIServerError(.threadCreationFailed, "cannot install the acceptor wake-up signal handler", errno: errno)
        }
        raiseDescriptorLimit()
        if runjournal_use_global_futex_hash() != 0 && errno != EINVAL {
            logger.debug("could not switch to the global futex hash", metadata: ["errno": "\(errno)"])
        }
        try monitor.start()
        defer { monitor.shutdown() }
        try streamLoop.start()
        defer {
            streamLoop.forceClose()
            _ = streamLoop.waitUntilExited(deadline: MonotonicTime.now() + .seconds(2))
        }
        if configuration.handlesSignals {
            signalSubscription = try SignalRelay.shared.subscribe { [weak self] signo in
                self?.signalReceived(signo)
            }
        }
        try startAcceptors()
        logger.info("FastCGI responder listening", metadata: [
            "listen": "\(configuration.listen)", "maxStreams": "\(configuration.maxStreams)",
            "maxConcurrentRequests": "\(maxConcurrent)", "workerStackKiB": "\(configuration.workerStackSize / 1024)",
        ])

        lifecycleLock.withLock {
            while !stopRequested { lifecycleChanged.wait(lifecycleLock) }
        }
        logger.info("FastCGI responder stopping: no longer accepting")
        stopAcceptors()
        wakeParkedWorkers()
        socket.close()
        pool.close()
        drainRequests()
        if let acceptFailure = lifecycleLock.withLock({ acceptFailure }) { throw acceptFailure }
    }

    /// Asks the server to stop (thread-safe, idempotent, returns at once; `run()` does the waiting).
    /// Active streams learn about it through the handlers they registered with `observeHangup`.
    public func stop() {
        requestStop(force: false)
    }

    /// A snapshot of the server's load, for tests, logs and capacity checks.
    public var statistics: FastCGIServerStatistics {
        let workers = pool.snapshot
        return FastCGIServerStatistics(
            workerThreads: workers.threads, idleWorkers: workers.idle, activeRequests: workers.busy,
            keptConnections: workers.parked + streamLoop.keptConnectionCount, activeStreams: activeStreams.load(ordering: .relaxed),
            parkedStreams: streamLoop.streamCount, streamStepsByWakers: streamLoop.stepsRunByWakers,
            watchedConnections: monitor.watchedCount, connectionsAccepted: connectionsAccepted.load(ordering: .relaxed),
            requestsServed: requestsServed.load(ordering: .relaxed), stackHighWaterBytes: probe?.highWaterBytes)
    }
}
