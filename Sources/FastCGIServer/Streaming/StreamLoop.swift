import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport
import RunJournal
import RunsAPI
import Synchronization

/// One thread that carries every parked stream: after its replay a stream's connection leaves the worker
/// (which goes back to the pool at once) and comes here, where one epoll set watches all of them.
///
/// - **Writing.** The loop writes the FastCGI records itself (`FastCGIRecords`): STDOUT records with what a
///   stream's step produced, then the empty STDOUT and END_REQUEST that end the response. Sockets are
///   non-blocking; what a slow client's connection does not take waits in the stream's backlog and is sent
///   on EPOLLOUT. The backlog is bounded: past `backlogLimit` the stream reads nothing new from its journal
///   (its tailer subscription falls behind and catches up from the file later), only heartbeats and
///   lifecycle frames are added.
/// - **Waking.** A stream's waker (called by the tailer for new lines, and by shutdown) steps the stream on
///   the waking thread when the loop thread is asleep in epoll_wait (whoever does the loop's work holds
///   `work`), which saves the loop thread's wake-up between an append and its subscribers. Otherwise it puts
///   the stream on a ready list and writes the loop's eventfd only if the list was empty, so a burst of
///   wake-ups while the loop works costs it one wake-up, and a stream woken several times is stepped once.
/// - **Deadlines.** Heartbeats and lifecycle deadlines are entries in one `TimerHeap`, not a thread or a
///   timer per stream.
/// - **Hang-ups.** EPOLLRDHUP/EPOLLHUP/EPOLLERR, or a read of 0: the stream ends and the connection is
///   closed without a response end (nobody is there to read it).
/// - **Kept connections.** After END_REQUEST a connection the web server keeps (nginx `fastcgi_keep_conn`)
///   stays in the set until the web server sends its next request on it, which is handed to a worker like
///   a newly accepted connection; silent past the kept-connection idle timeout, it is closed.
/// - **Stopping.** `stop()` ends every stream (END_REQUEST, as a stopping worker would), closes idle kept
///   connections, and the thread exits once every backlog is delivered or `forceClose()` is called.
final class StreamLoop: @unchecked Sendable {
    struct Settings {
        /// Unsent bytes per stream past which the stream stops taking new journal bytes.
        var backlogLimit = 256 * 1024
        /// Journal bytes a stream takes per step.
        var readLimit = 64 * 1024
        var keptConnectionIdleTimeout: Duration
    }

    /// A stream handed over by a worker.
    struct Adoption {
        let fd: Int32
        let requestID: UInt16
        let keepConnection: Bool
        let stream: any ParkableStream
        /// Called once on the loop thread when the response is over: `true` if it ended whole (END_REQUEST
        /// delivered to the socket), false if the connection was lost first.
        let onEnd: @Sendable (Bool) -> Void
    }

    private let settings: Settings
    private let logger: Logger
    /// Given a kept connection whose next request is arriving (blocking mode again), to be served by a worker.
    private let dispatchKeptConnection: @Sendable (Int32) -> Void
    private let epoll: WakeableEpoll
    private var epollFD: Int32 { epoll.epollFD }
    private let inbox = LockedValue(Inbox())
    private let parkedStreams = Atomic<Int>(0)
    private let idleKeptConnections = Atomic<Int>(0)
    private let stepsByWakers = Atomic<Int>(0)
    /// Guarded by `exitLock`; set when the loop thread has returned (or never started).
    private nonisolated(unsafe) var threadExited = false
    private let exitLock = ConditionLock()
    private let exitChanged = Condition()

    private struct Inbox {
        var adopted: [Adoption] = []
        var ready: [UInt64] = []
        /// The eventfd has been written and the loop has not taken the inbox since.
        var signalled = false
        var stopping = false
        var forced = false
    }

    /// Held by whoever does the loop's work: the loop thread, except while it waits in epoll_wait, or a thread
    /// that wakes a stream while the loop sleeps (`markReady` then steps the stream itself, which saves the
    /// loop thread's wake-up, one hop between an append and its subscribers). Everything below is guarded by it.
    private let work = ConditionLock()
    /// When the loop thread's epoll_wait ends at the latest (monotonic ms; .max: no deadline); .min while it
    /// is awake. A thread that steps a stream in its place wakes it if that stream now needs it sooner.
    private var sleepingUntil = Int64.min
    private var connections: [UInt64: Connection] = [:]
    private var timers = TimerHeap()
    private var nextKey: UInt64 = 1  // 0 is `WakeableEpoll.wakeKey`
    private var stopping = false
    private var again: [UInt64] = []
    /// Which pass over the ready list this is (to step a stream woken several times once).
    private var round: UInt64 = 0
    /// Where bytes the web server sends during a response are read into and dropped.
    private var scratch = [UInt8](repeating: 0, count: 4096)

    private final class Connection {
        let key: UInt64
        let fd: Int32
        let requestID: UInt16
        var keepConnection: Bool
        var stream: (any ParkableStream)?
        var onEnd: (@Sendable (Bool) -> Void)?
        var backlog = SendBacklog()
        var phase = Phase.streaming
        /// The earliest deadline this connection has in the timer heap (.max: none).
        var scheduled = Int64.max
        var watchingWrites = false
        /// Removed from the loop (closed or handed to a worker): nothing more is done with it.
        var closed = false
        var steppedInRound: UInt64 = 0

        enum Phase { case streaming, ending, kept }

        init(key: UInt64, adoption: Adoption) {
            self.key = key
            fd = adoption.fd
            requestID = adoption.requestID
            keepConnection = adoption.keepConnection
            stream = adoption.stream
            onEnd = adoption.onEnd
        }

        var pending: Int { backlog.pending }
    }

    init(settings: Settings, logger: Logger, dispatchKeptConnection: @escaping @Sendable (Int32) -> Void) throws(FastCGIServerError) {
        self.settings = settings
        self.logger = logger
        self.dispatchKeptConnection = dispatchKeptConnection
        epoll = try WakeableEpoll()
    }

    /// Streams parked here now.
    var streamCount: Int { parkedStreams.load(ordering: .relaxed) }
    /// Connections kept open after a parked stream ended, waiting for the web server's next request.
    var keptConnectionCount: Int { idleKeptConnections.load(ordering: .relaxed) }
    /// Steps run by the thread that woke the stream, because the loop thread was asleep.
    var stepsRunByWakers: Int { stepsByWakers.load(ordering: .relaxed) }

    func start() throws(FastCGIServerError) {
        let spawned = NativeThread.spawn(name: "fcgi-streams", stackSize: 512 * 1024) { [self] in
            self.run()
            exitLock.withLock {
                threadExited = true
                exitChanged.broadcast()
            }
        }
        if case .failure(let error) = spawned {
            exitLock.withLock { threadExited = true }
            throw FastCGIServerError(.threadCreationFailed, "cannot start the stream loop thread", errno: error.errno)
        }
    }

    /// Takes a stream over (any thread). False once the loop is stopping: the caller keeps the stream.
    func adopt(_ adoption: Adoption) -> Bool {
        // Counted before the loop can see it (and finish it), so the count never dips below zero.
        parkedStreams.add(1, ordering: .relaxed)
        let accepted = inbox.withLock { inbox -> Bool in
            guard !inbox.stopping else { return false }
            inbox.adopted.append(adoption)
            return true
        }
        if accepted { signal() } else { parkedStreams.subtract(1, ordering: .relaxed) }
        return accepted
    }

    /// Ends every stream (their responses are ended properly), closes idle kept connections and refuses new
    /// streams; the thread exits once what the streams had to send is delivered. Returns at once.
    func stop() {
        inbox.withLock { $0.stopping = true }
        signal()
    }

    /// Closes every connection now, delivered or not (the stop's grace period is over).
    func forceClose() {
        inbox.withLock {
            $0.stopping = true
            $0.forced = true
        }
        signal()
    }

    /// Waits until the loop thread has exited or `deadline` passes; true if it exited.
    func waitUntilExited(deadline: MonotonicTime) -> Bool {
        exitLock.lock()
        defer { exitLock.unlock() }
        while !threadExited {
            if !(MonotonicTime.now() < deadline) { return false }
            _ = exitChanged.wait(exitLock, until: deadline)
        }
        return true
    }

    private func markReady(_ key: UInt64) {
        // The loop thread is asleep: step the stream here instead of waking it (a failed try means the loop is
        // working, or this very thread is inside a step; the ready list below covers both).
        if work.tryLock() {
            if sleepingUntil != .min, let connection = connections[key] {
                stepsByWakers.add(1, ordering: .relaxed)
                step(connection)
                let mustWake = !again.isEmpty || (timers.nextDeadline ?? .max) < sleepingUntil
                work.unlock()
                if mustWake { signal() }
                return
            }
            work.unlock()
        }
        let mustSignal = inbox.withLock { inbox -> Bool in
            inbox.ready.append(key)
            guard !inbox.signalled else { return false }
            inbox.signalled = true
            return true
        }
        if mustSignal { epoll.wake() }
    }

    private func signal() {
        inbox.withLock { $0.signalled = true }
        epoll.wake()
    }

    // MARK: the loop

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        work.lock()
        defer { work.unlock() }
        while true {
            var timeout: Int32 = -1
            sleepingUntil = .max
            if !again.isEmpty {
                timeout = 0
                sleepingUntil = Self.nowMillis()
            } else if let next = timers.nextDeadline {
                timeout = Int32(clamping: max(0, next - Self.nowMillis() + 1))
                sleepingUntil = next
            }
            work.unlock()
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epollFD, $0.baseAddress, Int32($0.count), timeout) }
            let waitError = errno
            work.lock()
            sleepingUntil = .min
            if count < 0 && waitError != EINTR {
                logger.error("epoll_wait failed in the stream loop; ending every stream", metadata: ["errno": "\(waitError)"])
                closeEverything()
                return
            }
            var takeInbox = false
            for index in 0..<Int(max(count, 0)) {
                let event = events[index]
                if event.data.u64 == WakeableEpoll.wakeKey {
                    takeInbox = true
                } else if let connection = connections[event.data.u64] {
                    handle(event.events, on: connection)
                }
            }
            if takeInbox || !again.isEmpty { drainInbox() }
            runAgain()
            runTimers()
            if stopping && connections.isEmpty { return }
        }
    }

    private func drainInbox() {
        epoll.consumeWake()
        let taken = inbox.withLock { inbox -> Inbox in
            let taken = inbox
            inbox.adopted = []
            inbox.ready = []
            inbox.signalled = false
            return taken
        }
        for adoption in taken.adopted { attach(adoption) }
        // A stream woken several times since the loop last looked is stepped once.
        round &+= 1
        for key in taken.ready {
            guard let connection = connections[key], connection.steppedInRound != round else { continue }
            connection.steppedInRound = round
            step(connection)
        }
        if taken.forced {
            for connection in Array(connections.values) { drop(connection, whole: false) }
        } else if taken.stopping && !stopping {
            stopping = true
            for connection in Array(connections.values) {
                switch connection.phase {
                case .streaming: endResponse(connection, outcome: .shutdown)
                case .kept: drop(connection, whole: true)
                case .ending: break
                }
            }
        }
    }

    private func runAgain() {
        guard !again.isEmpty else { return }
        let keys = again
        again = []
        for key in keys {
            if let connection = connections[key] { step(connection) }
        }
    }

    private func runTimers() {
        let now = Self.nowMillis()
        while let (deadline, key) = timers.popDue(now: now) {
            guard let connection = connections[key], connection.scheduled == deadline else { continue }
            connection.scheduled = .max
            switch connection.phase {
            case .streaming: step(connection)
            case .kept: drop(connection, whole: true)  // the web server left it idle past the timeout
            case .ending: break
            }
        }
    }

    private func attach(_ adoption: Adoption) {
        let key = nextKey
        nextKey += 1
        let connection = Connection(key: key, adoption: adoption)
        _ = fcntl(adoption.fd, F_SETFL, fcntl(adoption.fd, F_GETFL) | O_NONBLOCK)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        event.data.u64 = key
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, adoption.fd, &event) == 0 else {
            logger.warning("cannot watch a parked stream's connection; ending the stream", metadata: ["errno": "\(errno)"])
            connections[key] = connection
            drop(connection, whole: false)
            return
        }
        connections[key] = connection
        adoption.stream.setWaker { [weak self] in self?.markReady(key) }
        if stopping {
            endResponse(connection, outcome: .shutdown)
        } else {
            step(connection)
        }
    }

    private func handle(_ events: UInt32, on connection: Connection) {
        if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 {
            hungUp(connection)
            return
        }
        if events & EPOLLIN.rawValue != 0 {
            if connection.phase == .kept {
                handOver(connection)
                return
            }
            // Nothing is expected from the web server during a response; a read of 0 is its hang-up, and
            // anything else (the rest of an unread request body) is dropped.
            let read = scratch.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if read == 0 || (read < 0 && errno != EAGAIN && errno != EINTR) {
                hungUp(connection)
                return
            }
        }
        if events & EPOLLOUT.rawValue != 0 {
            flushBacklog(connection)
        }
    }

    // MARK: streams

    private func step(_ connection: Connection) {
        guard connection.phase == .streaming, let stream = connection.stream else { return }
        let readLimit = connection.pending >= settings.backlogLimit ? 0 : settings.readLimit
        let step: StreamStep
        do {
            step = try stream.step(readLimit: readLimit)
        } catch {
            logger.warning("stream ended with an error", metadata: ["error": "\(error)"])
            endResponse(connection, outcome: .journalGone)
            return
        }
        if !step.output.isEmpty { send(step.output, on: connection) }
        guard !connection.closed else { return }  // the write found the client gone
        if let outcome = step.outcome {
            if outcome == .clientGone { hungUp(connection) } else { endResponse(connection, outcome: outcome) }
            return
        }
        if step.wakeAfterMillis == 0 {
            if connection.pending < settings.backlogLimit { again.append(connection.key) }
        } else {
            schedule(connection, at: Self.nowMillis() + step.wakeAfterMillis)
        }
    }

    /// Deadlines are rounded up to this grid, so the heartbeats of many idle streams, spread over the
    /// interval, share the loop's wake-ups (at most 10 a second) instead of each taking one.
    static let timerGranularityMillis: Int64 = 100

    private func schedule(_ connection: Connection, at exactDeadline: Int64) {
        let granularity = Self.timerGranularityMillis
        let deadline = (exactDeadline + granularity - 1) / granularity * granularity
        guard deadline < connection.scheduled else { return }
        connection.scheduled = deadline
        timers.insert(deadline: deadline, key: connection.key)
    }

    /// Ends the response: the stream's last bytes are already queued; the end records follow, and the
    /// connection is kept or closed once they are delivered.
    private func endResponse(_ connection: Connection, outcome: StreamOutcome) {
        guard connection.phase == .streaming else { return }
        releaseStream(connection)
        connection.phase = .ending
        append(FastCGIRecords.endOfResponse(requestID: connection.requestID), to: connection)
        flushBacklog(connection)
    }

    private func releaseStream(_ connection: Connection) {
        if let stream = connection.stream {
            stream.finish()
            connection.stream = nil
            parkedStreams.subtract(1, ordering: .relaxed)
        }
    }

    /// The client or the web server went away: no response end, the connection is closed.
    private func hungUp(_ connection: Connection) {
        drop(connection, whole: connection.phase == .kept)
    }

    // MARK: writing

    private func send(_ bytes: [UInt8], on connection: Connection) {
        if connection.pending == 0 && bytes.count <= FastCGIRecords.maxContentLength {
            // The common case: one record, written straight from the (possibly shared) frame bytes.
            var header = FastCGIRecords.stdoutHeader(requestID: connection.requestID, contentLength: bytes.count)
            let written = withUnsafeMutableBytes(of: &header) { headerBytes in
                bytes.withUnsafeBytes { body in
                    var vectors = [
                        iovec(iov_base: headerBytes.baseAddress, iov_len: FastCGIRecords.headerLength),
                        iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count),
                    ]
                    return writev(connection.fd, &vectors, 2)
                }
            }
            let total = FastCGIRecords.headerLength + bytes.count
            if written == total { return }
            if written < 0 && errno != EAGAIN && errno != EINTR {
                hungUp(connection)
                return
            }
            var record: [UInt8] = []
            record.reserveCapacity(total)
            FastCGIRecords.appendStdout(bytes, requestID: connection.requestID, to: &record)
            append(Array(record[max(0, written)...]), to: connection)
            watchWrites(connection, true)
            return
        }
        var records: [UInt8] = []
        FastCGIRecords.appendStdout(bytes, requestID: connection.requestID, to: &records)
        append(records, to: connection)
        flushBacklog(connection)
    }

    private func append(_ bytes: [UInt8], to connection: Connection) {
        connection.backlog.append(bytes)
    }

    private func flushBacklog(_ connection: Connection) {
        guard !connection.closed else { return }
        while connection.pending > 0 {
            let written = connection.backlog.withPendingBytes { pending in
                Glibc.write(connection.fd, pending.baseAddress!, pending.count)
            }
            if written > 0 {
                connection.backlog.sent(written)
                continue
            }
            if written < 0 && errno == EINTR { continue }
            if written < 0 && errno == EAGAIN {
                watchWrites(connection, true)
                return
            }
            hungUp(connection)
            return
        }
        connection.backlog.releaseDelivered()
        watchWrites(connection, false)
        switch connection.phase {
        case .ending:
            finishDelivered(connection)
        case .streaming:
            again.append(connection.key)  // it may have stopped reading its journal while the backlog was full
        case .kept:
            break
        }
    }

    private func watchWrites(_ connection: Connection, _ on: Bool) {
        guard connection.watchingWrites != on else { return }
        connection.watchingWrites = on
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | (on ? EPOLLOUT.rawValue : 0)
        event.data.u64 = connection.key
        _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, &event)
    }

    /// The response is delivered whole: keep the connection for the web server's next request, or close it.
    private func finishDelivered(_ connection: Connection) {
        connection.onEnd?(true)
        connection.onEnd = nil
        guard connection.keepConnection && !stopping else {
            closeConnection(connection)
            return
        }
        connection.phase = .kept
        idleKeptConnections.add(1, ordering: .relaxed)
        // The stream's own deadline (its next heartbeat) may still be in the heap, earlier than the idle
        // timeout: forget it, so it is recognised as stale and the idle timeout alone decides.
        connection.scheduled = .max
        let (seconds, attoseconds) = settings.keptConnectionIdleTimeout.components
        schedule(connection, at: Self.nowMillis() + seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// The web server sends its next request on a kept connection: a worker serves it, as if just accepted.
    private func handOver(_ connection: Connection) {
        forget(connection)
        _ = fcntl(connection.fd, F_SETFL, fcntl(connection.fd, F_GETFL) & ~O_NONBLOCK)
        dispatchKeptConnection(connection.fd)
    }

    /// Ends a connection now; `whole` says whether its response (if any) was delivered.
    private func drop(_ connection: Connection, whole: Bool) {
        releaseStream(connection)
        connection.onEnd?(whole)
        connection.onEnd = nil
        closeConnection(connection)
    }

    private func closeConnection(_ connection: Connection) {
        forget(connection)
        // Unread input at close(2) makes the kernel reset the connection, which can destroy response bytes
        // still on their way to the web server: read what has arrived first (a bounded amount).
        for _ in 0..<16 {
            let read = scratch.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if read <= 0 { break }
        }
        _ = close(connection.fd)
    }

    /// Removes the connection from the loop (its descriptor stays open).
    private func forget(_ connection: Connection) {
        guard connections.removeValue(forKey: connection.key) != nil else { return }
        connection.closed = true
        if connection.phase == .kept { idleKeptConnections.subtract(1, ordering: .relaxed) }
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, nil)
        connection.scheduled = .max
    }

    private func closeEverything() {
        for connection in Array(connections.values) { drop(connection, whole: false) }
        let leftovers = inbox.withLock { inbox -> [Adoption] in
            let adopted = inbox.adopted
            inbox.adopted = []
            inbox.stopping = true
            return adopted
        }
        for adoption in leftovers {
            adoption.stream.finish()
            parkedStreams.subtract(1, ordering: .relaxed)
            adoption.onEnd(false)
            _ = close(adoption.fd)
        }
    }

    private static func nowMillis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
