import CFastCGI
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with condition variables. The worker pool hands each request to one specific idle
/// thread and `run()` waits with deadlines; Swift's `Mutex` has neither conditions nor timed waits.
final class ConditionLock: @unchecked Sendable {
    // Heap-allocated: pthread objects must not move, and a Swift stored property may.
    fileprivate let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A condition variable on the monotonic clock (wall-clock jumps must not stretch or cut a stop grace).
final class Condition: @unchecked Sendable {
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    init() {
        cond = .allocate(capacity: 1)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    /// Waits; the caller holds `lock` and re-checks its predicate (spurious wake-ups happen).
    func wait(_ lock: ConditionLock) { pthread_cond_wait(cond, lock.mutex) }

    /// Waits until `deadline` (see `MonotonicTime`); returns false once it has passed.
    @discardableResult
    func wait(_ lock: ConditionLock, until deadline: MonotonicTime) -> Bool {
        var spec = deadline.timespec
        return pthread_cond_timedwait(cond, lock.mutex, &spec) != ETIMEDOUT
    }

    func signal() { pthread_cond_signal(cond) }
    func broadcast() { pthread_cond_broadcast(cond) }
}

/// A point on CLOCK_MONOTONIC, the clock the conditions wait on.
struct MonotonicTime: Comparable, Sendable {
    let nanoseconds: Int64

    static func now() -> MonotonicTime {
        var spec = Glibc.timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return MonotonicTime(nanoseconds: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }

    static func + (lhs: MonotonicTime, rhs: Duration) -> MonotonicTime {
        let (seconds, attoseconds) = rhs.components
        let added = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !added.overflow else { return MonotonicTime(nanoseconds: .max / 2) }
        return MonotonicTime(nanoseconds: lhs.nanoseconds &+ added.partialValue &+ attoseconds / 1_000_000_000)
    }

    static func < (lhs: MonotonicTime, rhs: MonotonicTime) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    var timespec: Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }
}

/// Starting detached pthreads with an explicit stack size (Foundation's `Thread` cannot be made small
/// enough for ten thousand parked streams and would hide the errno when the system runs out of threads).
enum NativeThread {
    private final class Start {
        let name: String
        let body: () -> Void
        init(name: String, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts `body` on a new detached thread; returns its id, or the `pthread_create` error code.
    static func spawn(name: String, stackSize: Int?, _ body: @escaping @Sendable () -> Void) -> Result<pthread_t, ThreadSpawnError> {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        if let stackSize {
            let status = pthread_attr_setstacksize(&attributes, stackSize)
            if status != 0 { return .failure(ThreadSpawnError(code: status)) }
        }
        let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, &attributes, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            // Linux limits names to 15 bytes; the name is only a debugging aid (top -H, gdb).
            _ = pthread_setname_np(pthread_self(), String(start.name.utf8.prefix(15))!)
            start.body()
            return nil
        }, start)
        guard status == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            return .failure(ThreadSpawnError(code: status))
        }
        return .success(thread)
    }
}

/// The error number `pthread_create` returned (EAGAIN: out of threads or memory).
struct ThreadSpawnError: Error, Sendable {
    let code: Int32
}
