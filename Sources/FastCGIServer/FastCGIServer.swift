import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import RunsAPI
import Synchronization
import SystemSupport

/// The FastCGI responder: accepts requests from nginx or lighttpd through libfcgi, decodes them into
/// `HTTPRequest`s for an `HTTPHandler`, and writes the `HTTPResponse`s back, streaming `.stream` bodies
/// (SSE) on the request's own thread. It is the only module that knows about FastCGI; everything above it
/// is plain Swift. The thread model and its capacity reasoning are in docs/architecture.md.
///
/// ```swift
/// let server = try FastCGIServer(configuration: .init(listen: .unixSocket(path: socketPath)),
///                                handler: api, logger: logger)
/// try server.run()   // blocks until stop() or SIGTERM/SIGINT
/// ```
public final class FastCGIServer: Sendable {
    public let configuration: FastCGIServerConfiguration
    private let handler: any HTTPHandler
    private let logger: Logger
    /// Told about every request once it is answered (the request log).
    private let observer: (any RequestObserver)?
    private let socket: ListeningSocket
    private let pool: WorkerPool
    private let monitor: HangupMonitor
    private let probe: StackProbe?
    private let activeStreams = Atomic<Int>(0)
    private let bodyBudget: BodyBudget
    private let connectionsAccepted = Atomic<Int>(0)
    private let requestsServed = Atomic<Int>(0)
    private let maxConcurrent: Int
    /// How long a new connection may take to send its first request before it is closed.
    static let firstRequestTimeout = Duration.seconds(5)
    /// The listening socket is TCP (`--listen`, or an inherited TCP socket): accepted connections get TCP_NODELAY.
    private let acceptsTCP: Bool

    // Lifecycle, guarded by `lifecycleLock`.
    private let lifecycleLock = ConditionLock()
    private let lifecycleChanged = Condition()
    private nonisolated(unsafe) var phase = Phase.idle
    private nonisolated(unsafe) var stopRequested = false
    private nonisolated(unsafe) var forceRequested = false
    private nonisolated(unsafe) var acceptorsMustExit = false
    private nonisolated(unsafe) var acceptors: [Acceptor] = []
    private nonisolated(unsafe) var acceptFailure: FastCGIServerError?

    /// Open connections by request, so a stop that outlasts its grace period can shut them down. Guarded by
    /// `connectionsLock`, a plain pthread mutex: every request takes it twice, from up to thousands of
    /// threads, and `Synchronization.Mutex`'s spinning slow path cost 20 % of the responder's CPU under load.
    private nonisolated(unsafe) var connections: [UInt64: Int32] = [:]
    private let connectionsLock = ConditionLock()
    private let nextConnectionID = Atomic<UInt64>(1)

    /// Workers parked on a kept connection, waiting for its next request, by the id of their wait, so a
    /// stop can wake them (with the acceptors'
    /// wake-up signal; the thread exists while it is listed here). Guarded by `connectionsLock`, like
    /// `keptConnectionsClosing`, which refuses new waits once the stop has begun.
    private nonisolated(unsafe) var waitingForRequests: [UInt64: pthread_t] = [:]
    private nonisolated(unsafe) var keptConnectionsClosing = false

    private enum Phase {
        case idle, running, stopped
    }

    private final class Acceptor: @unchecked Sendable {
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
        pool = WorkerPool(
            stackSize: configuration.workerStackSize, spareLimit: configuration.spareWorkerLimit,
            maxBusy: maxConcurrent, probe: probe, startFault: configuration.workerThreadStartFault)
        socket = try ListeningSocket.open(configuration)
        let family = runjournal_socket_family(socket.fd)
        acceptsTCP = family == AF_INET || family == AF_INET6
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
            keptConnections: workers.parked, activeStreams: activeStreams.load(ordering: .relaxed),
            watchedConnections: monitor.watchedCount, connectionsAccepted: connectionsAccepted.load(ordering: .relaxed),
            requestsServed: requestsServed.load(ordering: .relaxed), stackHighWaterBytes: probe?.highWaterBytes)
    }

    // MARK: stopping

    private func requestStop(force: Bool) {
        let first = lifecycleLock.withLock { () -> Bool in
            let first = !stopRequested
            stopRequested = true
            if force { forceRequested = true }
            lifecycleChanged.broadcast()
            return first
        }
        if first { monitor.fireAll() }
    }

    /// First SIGTERM/SIGINT: graceful stop. A second one while stopping skips the grace period. SIGHUP calls
    /// the reload hook (on the signal thread) and touches nothing else: streams and connections carry on.
    private func signalReceived(_ signo: Int32) {
        if signo == SIGHUP {
            guard let reload = configuration.onReload else {
                logger.notice("received SIGHUP: nothing to reload")
                return
            }
            logger.notice("received SIGHUP: reloading")
            reload()
            return
        }
        let alreadyStopping = lifecycleLock.withLock { stopRequested }
        logger.notice("received signal \(signo)\(alreadyStopping ? " again: closing remaining connections now" : "")")
        requestStop(force: alreadyStopping)
    }

    private func startAcceptors() throws(FastCGIServerError) {
        for index in 0..<configuration.acceptorThreads {
            let acceptor = Acceptor()
            // Registered before the thread starts so stopAcceptors never misses it.
            lifecycleLock.withLock { acceptors.append(acceptor) }
            let spawned = NativeThread.spawn(name: "fcgi-accept-\(index)", stackSize: 256 * 1024) { [self] in
                self.acceptLoop(acceptor)
            }
            switch spawned {
            case .success(let thread):
                lifecycleLock.withLock { if !acceptor.exited { acceptor.thread = thread } }
            case .failure(let error):
                lifecycleLock.withLock { acceptor.exited = true }
                if index == 0 {
                    throw FastCGIServerError(.threadCreationFailed, "cannot start an acceptor thread", errno: error.errno)
                }
                logger.warning("started only \(index) of \(configuration.acceptorThreads) acceptor threads", metadata: ["errno": "\(error.errno)"])
                return
            }
        }
    }

    /// Wakes acceptors blocked in accept(2) with the wake-up signal until they have all left their loop.
    /// A signal rather than shutdown(2) on the listening socket: an inherited socket is shared with the
    /// supervisor (systemd keeps it for the next instance) and must stay intact. The signal is re-sent
    /// because one delivered just before a thread enters accept(2) is lost.
    private func stopAcceptors() {
        let deadline = MonotonicTime.now() + .seconds(2)
        lifecycleLock.lock()
        acceptorsMustExit = true
        while true {
            let alive = acceptors.filter { !$0.exited }
            if alive.isEmpty { break }
            for acceptor in alive {
                // Only while `exited` is false (checked under the lock the acceptor needs to set it) is
                // the detached thread guaranteed to exist.
                if let thread = acceptor.thread { pthread_kill(thread, runjournal_wake_signal()) }
            }
            if !(MonotonicTime.now() < deadline) {
                logger.warning("\(alive.count) acceptor thread(s) did not leave accept(2) in time")
                break
            }
            lifecycleChanged.wait(lifecycleLock, until: MonotonicTime.now() + .milliseconds(20))
        }
        lifecycleLock.unlock()
    }

    /// Ends the kept connections nobody is using: the workers waiting on them for the web server's next
    /// request are woken with the wake-up signal (their read(2) fails with EINTR, libfcgi closes the
    /// connection and the worker leaves), and no worker parks from now on. A stop must not wait for the
    /// web server to close them: nginx keeps idle connections for a minute. Called again on every round of
    /// `drainRequests`, for the same lost-signal reason as in `stopAcceptors`.
    private func wakeParkedWorkers() {
        connectionsLock.withLock {
            keptConnectionsClosing = true
            // Only while listed (removed under this lock before its worker goes on) is a thread known to exist.
            for thread in waitingForRequests.values { pthread_kill(thread, runjournal_wake_signal()) }
        }
    }

    /// Waits for in-flight requests for the grace period (less if a second signal forces it), then shuts
    /// down the connections still open so blocked writes fail and their workers end.
    private func drainRequests() {
        let graceEnd = MonotonicTime.now() + configuration.stopGracePeriod
        if waitForWorkersToExit(until: graceEnd, unless: { lifecycleLock.withLock { forceRequested } }) { return }
        let open = connectionsLock.withLock {
            for fd in connections.values { _ = shutdown(fd, Int32(SHUT_RDWR)) }
            return connections.count
        }
        logger.notice("stop grace period over: shut down \(open) open connection(s)")
        if !waitForWorkersToExit(until: MonotonicTime.now() + .seconds(2), unless: { false }) {
            logger.warning("\(pool.snapshot.busy) request(s) still running after the stop; their handlers do not return")
        }
    }

    /// True once every worker has exited; false when `deadline` passes or `giveUp()` says so first. Wakes
    /// parked workers every 50 ms meanwhile: a wake-up sent just before a worker parks is lost.
    private func waitForWorkersToExit(until deadline: MonotonicTime, unless giveUp: () -> Bool) -> Bool {
        while pool.snapshot.threads > 0 {
            if giveUp() || !(MonotonicTime.now() < deadline) { return false }
            wakeParkedWorkers()
            _ = pool.waitUntilAllExited(deadline: min(deadline, MonotonicTime.now() + .milliseconds(50)))
        }
        return true
    }

    // MARK: accepting

    private func acceptLoop(_ acceptor: Acceptor) {
        _ = runjournal_unblock_wake_signal()
        defer {
            lifecycleLock.withLock {
                acceptor.exited = true
                lifecycleChanged.broadcast()
            }
        }
        var backoffMilliseconds = 50
        while !lifecycleLock.withLock({ acceptorsMustExit }) {
            let fd = runjournal_accept(socket.fd, acceptsTCP ? 1 : 0)
            if fd >= 0 {
                backoffMilliseconds = 50
                connectionsAccepted.add(1, ordering: .relaxed)
                dispatch(FastCGIConnection(acceptedFD: fd))
                continue
            }
            let error = errno
            switch error {
            case EINTR, ECONNABORTED, EPROTO, EPIPE, ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH:
                // A signal (the stop wake-up among them) or a connection that died before we got to it.
                continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                logger.error("cannot accept: out of descriptors or memory; backing off", metadata: [
                    "errno": "\(error)", "backoffMs": "\(backoffMilliseconds)",
                    "activeRequests": "\(pool.snapshot.busy)",
                ])
                sleep(milliseconds: backoffMilliseconds)
                backoffMilliseconds = min(backoffMilliseconds * 2, 1000)
            case EBADF, EINVAL, ENOTSOCK, EOPNOTSUPP:
                if lifecycleLock.withLock({ acceptorsMustExit }) { return }
                let failure = FastCGIServerError(.acceptFailed, "the listening socket failed", errno: error)
                logger.critical("\(failure)")
                lifecycleLock.withLock { if acceptFailure == nil { acceptFailure = failure } }
                requestStop(force: false)
                return
            default:
                logger.error("accept failed; retrying", metadata: ["errno": "\(error)"])
                sleep(milliseconds: backoffMilliseconds)
                backoffMilliseconds = min(backoffMilliseconds * 2, 1000)
            }
        }
    }

    /// Hands an accepted connection to a worker, which reads and serves its requests. When no worker can be
    /// had the connection's request is answered 503 right here: never left waiting for a thread. Reading
    /// it is then the acceptor's job, with a short deadline, so a client that stalls at that moment holds
    /// the acceptor for a second at most.
    private func dispatch(_ connection: FastCGIConnection) {
        let result = pool.dispatch { [self] in self.serveConnection(connection) }
        guard case .failure(let refusal) = result else { return }
        guard connection.readArrivedRequest(waitingAtMost: .seconds(1)) else { return }
        switch refusal {
        case .atCapacity:
            refuseAtCapacity(connection)
        case .threadUnavailable(let code):
            logger.error("request refused: pthread_create failed", metadata: ["errno": "\(code)"])
            sleep(milliseconds: 10)
            refuse(connection, message: "the server cannot start another worker thread")
        case .closed:
            refuse(connection, message: "the server is stopping")
        }
        requestsServed.add(1, ordering: .relaxed)
        connection.closeConnection()
    }

    // MARK: serving (worker threads)

    /// Serves requests on one connection until it closes: the first, accepted by an acceptor, and then,
    /// while the web server keeps the connection (nginx's `fastcgi_keep_conn`), each next one as it
    /// arrives. A worker parked on a kept connection is never needed for anything else: the web server
    /// sends a request on it only when the previous response is complete, so the request finds its worker
    /// waiting, and new connections go to the acceptors as before.
    private func serveConnection(_ connection: FastCGIConnection) {
        // The first request is read here, not on the acceptor, so a client that connects and stalls holds
        // this worker, never an acceptor; and only briefly: a web server sends its request as soon as it
        // has connected (libfcgi's own accept waited 2 s for it).
        connection.setIdleTimeout(min(Self.firstRequestTimeout, configuration.keptConnectionIdleTimeout))
        let stackBounds = probe != nil ? StackProbe.currentBounds() : nil
        var isFirstRequest = true
        while true {
            let id = nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue
            let received: Bool
            let admitted: Bool
            if isFirstRequest {
                // Not woken by a stop: a request accepted just before it is served within the grace
                // period, and a silent connection ends at the timeout above.
                received = connection.readNextRequest()
                admitted = true
                isFirstRequest = false
                if received { connection.setIdleTimeout(configuration.keptConnectionIdleTimeout) }
            } else {
                // Waiting on a kept connection: parked (no request capacity taken) and listed, so a stop
                // can interrupt the wait.
                let waiting = connectionsLock.withLock { () -> Bool in
                    guard !keptConnectionsClosing else { return false }
                    waitingForRequests[id] = pthread_self()
                    return true
                }
                guard waiting else {
                    connection.closeConnection()
                    return
                }
                pool.park()
                received = connection.readNextRequest()
                connectionsLock.withLock { _ = waitingForRequests.removeValue(forKey: id) }
                admitted = pool.unpark()
            }
            guard received else { return }

            let fd = connection.connectionFD
            // Registered while the request is served and its body drained, so a forced stop can shut the
            // connection down; forgotten before libfcgi may close it, so a reused number is never touched.
            connectionsLock.withLock { connections[id] = fd }
            var reusable = admitted ? serve(connection) : refuseAtCapacity(connection)
            requestsServed.add(1, ordering: .relaxed)
            if let probe, let stackBounds { probe.record(stackBounds) }
            // A body left unread up to this much past the limit (a 413 answered from Content-Length) is
            // read and dropped to keep the connection; nginx never sends more than its client_max_body_size.
            reusable = reusable && connection.drainBody(limit: configuration.maxBodyBytes + 65536)
            connectionsLock.withLock { _ = connections.removeValue(forKey: id) }
            connection.finishRequest(keepConnection: reusable)
            guard connection.isConnectionOpen else { return }
        }
    }

    /// The 503 for a request that arrives while `maxConcurrentRequests` requests run, on a new connection
    /// (answered by the acceptor) or on a kept one (by its worker).
    @discardableResult
    private func refuseAtCapacity(_ connection: FastCGIConnection) -> Bool {
        logger.warning("request refused: at maxConcurrentRequests", metadata: ["limit": "\(maxConcurrent)"])
        return refuse(connection, message: "the server is handling its maximum of \(maxConcurrent) concurrent requests")
    }

    /// Answers the connection's request 503 `server_busy` with `Retry-After`; true if it was delivered.
    @discardableResult
    private func refuse(_ connection: FastCGIConnection, message: String) -> Bool {
        send(.error(503, code: "server_busy", message: message,
                    extraHeaders: [("Retry-After", String(configuration.retryAfterSeconds))]),
             on: connection, method: "GET")
    }

    /// Serves one request and completes its response. Returns whether the connection may carry another
    /// request: false when the response could not be delivered whole.
    private func serve(_ connection: FastCGIConnection) -> Bool {
        let started = MonotonicTime.now()
        let head: RequestDecoder.Head
        switch RequestDecoder.decodeHead(connection.parameters()) {
        case .success(let decoded): head = decoded
        case .failure(let rejection):
            report(method: "-", path: "", status: rejection.response.status, since: started)
            return send(rejection.response, on: connection, method: "GET")
        }
        /// Answers a request refused before the handler, and reports it.
        func refuseBeforeHandler(_ response: HTTPResponse) -> Bool {
            report(method: head.method, path: head.path, status: response.status, since: started)
            return send(response, on: connection, method: head.method)
        }

        let limit = configuration.maxBodyBytes
        if let declared = head.declaredLength, declared > limit {
            return refuseBeforeHandler(tooLarge())
        }
        // Bodies in flight are bounded as a whole too (see BodyBudget); the reservation lasts until the
        // response is done.
        let reservation = BodyBudget.Reservation(bodyBudget)
        defer { reservation.release() }
        // Without a declared length read one byte past the limit: that byte is the proof it is too large.
        let body: [UInt8]
        switch connection.readBody(upTo: head.declaredLength ?? (limit + 1), expected: head.declaredLength, admit: reservation.grow(to:)) {
        case .body(let bytes):
            body = bytes
        case .failed:
            logger.debug("connection failed while reading the request body", metadata: ["path": "\(head.path)"])
            return false
        case .refused:
            logger.warning("request refused: request bodies in flight at the body budget", metadata: [
                "budget": "\(bodyBudget.limit)", "declared": "\(head.declaredLength.map(String.init) ?? "none")",
            ])
            return send(.error(
                503, code: "server_busy",
                message: "the server is holding its maximum of \(bodyBudget.limit) bytes of request bodies; retry later",
                extraHeaders: [("Retry-After", String(configuration.retryAfterSeconds))]), on: connection, method: head.method)
        }
        if body.count > limit {
            return refuseBeforeHandler(tooLarge())
        }
        if let declared = head.declaredLength, body.count < declared {
            return refuseBeforeHandler(RequestDecoder.badRequest("the request body ended after \(body.count) of \(declared) bytes"))
        }

        let request = HTTPRequest(method: head.method, path: head.path, query: head.queryPairs, headers: head.headers, body: body)
        let response = handler.handle(request)
        switch response.body {
        case .bytes:
            defer { report(request, status: response.status, since: started) }
            return send(response, on: connection, method: head.method)
        case .stream(let produce):
            var status = response.status
            defer { report(request, status: status, since: started) }
            return stream(response, produce, on: connection, path: head.path, status: &status)
        }
    }

    private func report(_ request: HTTPRequest, status: Int, since started: MonotonicTime) {
        report(method: request.method, path: request.path, status: status, since: started, principal: request.principal)
    }

    private func report(method: String, path: String, status: Int, since started: MonotonicTime, principal: String? = nil) {
        guard let observer else { return }
        let duration = Duration.nanoseconds(MonotonicTime.now().nanoseconds - started.nanoseconds)
        observer.requestCompleted(
            CompletedRequest(method: method, path: path, status: status, duration: duration, principal: principal))
    }

    private func tooLarge() -> HTTPResponse {
        .error(413, code: "payload_too_large", message: "the request body exceeds the limit of \(configuration.maxBodyBytes) bytes")
    }

    /// Writes a complete response and ends it; true if it was delivered to the web server whole.
    @discardableResult
    private func send(_ response: HTTPResponse, on connection: FastCGIConnection, method: String) -> Bool {
        var bytes: [UInt8] = []
        if case .bytes(let body) = response.body { bytes = body }
        let hasBody = ResponseHead.allowsBody(response.status)
        var output = ResponseHead.serialize(
            status: response.status, headers: response.headers, contentLength: hasBody ? bytes.count : nil,
            dropped: { [logger] name in logger.warning("dropped an invalid response header", metadata: ["name": "\(name)"]) })
        if hasBody && method != "HEAD" { output += bytes }
        guard connection.write(output), connection.completeResponse() else {
            logger.debug("client went away before the response was delivered", metadata: ["status": "\(response.status)"])
            return false
        }
        return true
    }

    /// `status` is set to what the client was answered (a refusal's status when the cap is reached).
    private func stream(
        _ response: HTTPResponse, _ produce: @Sendable (any ResponseBodyWriter) throws -> Void,
        on connection: FastCGIConnection, path: String, status: inout Int
    ) -> Bool {
        guard reserveStream() else {
            let limit = configuration.maxStreams
            logger.warning("stream refused: at maxStreams", metadata: ["limit": "\(limit)", "path": "\(path)"])
            status = 200  // the EventSource-friendly refusal: retry hint, a comment, the end
            return send(StreamLimitRefusal.response(retryAfterSeconds: configuration.retryAfterSeconds), on: connection, method: "GET")
        }
        defer {
            // The last stream of a burst gone: give its buffers back to the kernel instead of keeping the peak.
            if activeStreams.subtract(1, ordering: .relaxed).newValue == 0 { runjournal_release_free_memory() }
        }

        let head = ResponseHead.serialize(
            status: response.status, headers: response.headers, contentLength: nil,
            dropped: { [logger] name in logger.warning("dropped an invalid response header", metadata: ["name": "\(name)"]) })
        // Flush the head at once: the client (an EventSource) is "open" only when it has the headers.
        guard connection.write(head), connection.flush() else { return false }

        let writer = FastCGIBodyWriter(connection: connection, monitor: monitor)
        defer { writer.end() }
        do {
            try produce(writer)
        } catch ResponseWriterError.clientGone {
            logger.debug("stream client went away", metadata: ["path": "\(path)"])
            return false
        } catch {
            logger.warning("stream ended with an error", metadata: ["path": "\(path)", "error": "\(error)"])
        }
        writer.end()
        return connection.completeResponse()
    }

    private func reserveStream() -> Bool {
        var current = activeStreams.load(ordering: .relaxed)
        while current < configuration.maxStreams {
            let (exchanged, original) = activeStreams.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    // MARK: helpers

    /// Each request and stream holds one descriptor (its connection): raise the soft limit to the hard
    /// one, and say so when even that is short of the configured concurrency.
    private func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let needed = rlim_t(maxConcurrent + 64)
        if limit.rlim_cur < needed {
            logger.warning("the open-file limit is below what the configured concurrency needs", metadata: [
                "limit": "\(limit.rlim_cur)", "needed": "\(needed)",
            ])
        }
    }

    private func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        _ = nanosleep(&request, nil)
    }
}

/// Load figures of a running `FastCGIServer`: how many threads exist and what they are doing.
public struct FastCGIServerStatistics: Sendable, Equatable {
    /// Worker threads alive (busy + idle).
    public var workerThreads: Int
    /// Workers parked for reuse (at most `spareWorkerLimit`).
    public var idleWorkers: Int
    /// Requests being served, streams included.
    public var activeRequests: Int
    /// Workers parked on a connection the web server keeps open (nginx's upstream `keepalive`), waiting
    /// for its next request. Bounded by the web server's cache size, not by this server.
    public var keptConnections: Int
    /// `.stream` responses running (counted against `maxStreams`).
    public var activeStreams: Int
    /// Stream connections the hang-up monitor watches.
    public var watchedConnections: Int
    /// Connections accepted since the server started (a kept connection is accepted once for many requests).
    public var connectionsAccepted: Int
    /// Requests answered since the server started, refused ones (503) included.
    public var requestsServed: Int
    /// Deepest worker stack use seen, when `measuresStackUsage` is on.
    public var stackHighWaterBytes: Int?
}
