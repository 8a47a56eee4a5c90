import CFastCGI
#if canImport(Glibc)
import Glibc
#endif

/// An epoll set with an eventfd in it (key 0), for a thread that waits on sockets and must also be woken for
/// work that is not a socket event: the stream loop and the hang-up monitor. Owns both descriptors.
final class WakeableEpoll: Sendable {
    let epollFD: Int32
    private let wakeFD: Int32
    /// The `epoll_event.data.u64` of the eventfd; every other registration must use another key.
    static let wakeKey: UInt64 = 0

    init() throws(FastCGIServerError) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw FastCGIServerError(.threadCreationFailed, "epoll_create1 failed", errno: errno) }
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        guard wakeFD >= 0 else {
            let error = errno
            _ = close(epollFD)
            throw FastCGIServerError(.threadCreationFailed, "eventfd failed", errno: error)
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeKey
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0 else {
            let error = errno
            _ = close(epollFD)
            _ = close(wakeFD)
            throw FastCGIServerError(.threadCreationFailed, "epoll_ctl(eventfd) failed", errno: error)
        }
    }

    deinit {
        _ = close(epollFD)
        _ = close(wakeFD)
    }

    /// Makes the waiting thread's epoll_wait return (any thread; never blocks).
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, MemoryLayout<UInt64>.size)
    }

    /// Clears the wake-up, on the waiting thread, before it looks at what it was woken for.
    func consumeWake() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, MemoryLayout<UInt64>.size)
    }
}
