import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import RunJournal
import RunsAPI
import SystemSupport

/// Notices, within milliseconds, that the web server closed the connection of an idle stream. An idle SSE
/// stream writes nothing until its next heartbeat, so a blocking writer alone would only learn about the
/// hang-up then; nginx closes the upstream connection as soon as its client goes. One thread watches the
/// connections of all active streams with epoll (EPOLLRDHUP|EPOLLHUP|EPOLLERR on the connection itself:
/// one descriptor per stream, no extra pipe or eventfd per stream) and calls the handlers registered
/// through `ResponseBodyWriter.observeHangup`. The same handlers tell streams that the server is stopping.
final class HangupMonitor: Sendable {
    /// The connections' epoll set, with the wake-up for work that is not a socket event (stop, late
    /// registrations, shutdown).
    private let epoll: WakeableEpoll
    private var epollFD: Int32 { epoll.epollFD }
    private let logger: Logger
    private let state = LockedValue(State())

    private struct Registration {
        let fd: Int32
        var handlers: [UInt64: @Sendable () -> Void] = [:]
        /// The connection hung up (or the server is stopping): later observers are called at once.
        var fired = false
    }

    private struct State {
        var registrations: [UInt64: Registration] = [:]
        var nextKey: UInt64 = 1  // 0 is `WakeableEpoll.wakeKey`
        var nextHandlerID: UInt64 = 1
        var stopping = false
        var closed = false
        var threadRunning = false
        var pending: [@Sendable () -> Void] = []
    }

    init(logger: Logger) throws(FastCGIServerError) {
        self.logger = logger
        epoll = try WakeableEpoll()
    }

    func start() throws(FastCGIServerError) {
        state.withLock { $0.threadRunning = true }
        let spawned = NativeThread.spawn(name: "fcgi-hangups", stackSize: 256 * 1024) { [self] in self.loop() }
        if case .failure(let error) = spawned {
            state.withLock { $0.threadRunning = false }
            throw FastCGIServerError(.threadCreationFailed, "cannot start the hang-up monitor thread", errno: error.errno)
        }
    }

    /// Starts watching a stream's connection; `nil` if epoll refused it (the heartbeat write then notices).
    func watch(fd: Int32) -> UInt64? {
        state.withLock { state -> UInt64? in
            let key = state.nextKey
            var event = epoll_event()
            // No EPOLLIN: the web server sends nothing more on a request's connection after the body,
            // and waking for data would spin. ONESHOT: a hung-up socket stays "hung up" (level).
            event.events = EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLONESHOT.rawValue
            event.data.u64 = key
            guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
                logger.warning("cannot watch a stream connection for hang-ups", metadata: ["errno": "\(errno)"])
                return nil
            }
            state.nextKey += 1
            var registration = Registration(fd: fd)
            registration.fired = state.stopping
            state.registrations[key] = registration
            return key
        }
    }

    /// Adds a hang-up handler to a watched connection; the returned id removes it.
    func addHandler(key: UInt64, _ handler: @escaping @Sendable () -> Void) -> UInt64? {
        let (id, fireNow) = state.withLock { state -> (UInt64?, Bool) in
            guard var registration = state.registrations[key] else { return (nil, false) }
            let id = state.nextHandlerID
            state.nextHandlerID += 1
            if registration.fired || state.stopping {
                // Already hung up: deliver from the monitor thread, never inside observeHangup itself,
                // so a handler can take locks its registrant holds.
                state.pending.append(handler)
                return (id, true)
            }
            registration.handlers[id] = handler
            state.registrations[key] = registration
            return (id, false)
        }
        if fireNow { wake() }
        return id
    }

    func removeHandler(key: UInt64, id: UInt64) {
        state.withLock { state in
            _ = state.registrations[key]?.handlers.removeValue(forKey: id)
        }
    }

    /// Stops watching; must be called before the connection is closed (the fd number is reused).
    func unwatch(key: UInt64) {
        state.withLock { state in
            guard let registration = state.registrations.removeValue(forKey: key) else { return }
            if !registration.fired {
                _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, registration.fd, nil)
            }
        }
    }

    /// The server is stopping: every current and future handler is called.
    func fireAll() {
        state.withLock { $0.stopping = true }
        wake()
    }

    /// Ends the monitor thread (after delivering what is pending).
    func shutdown() {
        state.withLock { $0.closed = true }
        wake()
    }

    var watchedCount: Int { state.withLock { $0.registrations.count } }

    private func wake() {
        epoll.wake()
    }

    private func loop() {
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        while true {
            let count = epoll_wait(epollFD, events, Int32(capacity), -1)
            if count < 0 {
                if errno == EINTR { continue }
                logger.error("epoll_wait failed; hang-ups of idle streams are noticed at their next write", metadata: ["errno": "\(errno)"])
                state.withLock { $0.threadRunning = false }
                return
            }
            var drainWake = false
            let (handlers, finished) = state.withLock { state -> ([@Sendable () -> Void], Bool) in
                var handlers = state.pending
                state.pending.removeAll()
                for index in 0..<Int(count) {
                    let key = events[index].data.u64
                    if key == WakeableEpoll.wakeKey {
                        drainWake = true
                        continue
                    }
                    guard var registration = state.registrations[key], !registration.fired else { continue }
                    registration.fired = true
                    handlers.append(contentsOf: registration.handlers.values)
                    registration.handlers.removeAll()
                    _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, registration.fd, nil)
                    state.registrations[key] = registration
                }
                if state.stopping {
                    for (key, var registration) in state.registrations where !registration.handlers.isEmpty {
                        handlers.append(contentsOf: registration.handlers.values)
                        registration.handlers.removeAll()
                        state.registrations[key] = registration
                    }
                }
                if state.closed { state.threadRunning = false }
                return (handlers, state.closed)
            }
            if drainWake { epoll.consumeWake() }
            for handler in handlers { handler() }
            if finished { return }
        }
    }
}
