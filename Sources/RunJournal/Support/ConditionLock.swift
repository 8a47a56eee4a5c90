#if canImport(Glibc)
import Glibc
#endif

/// A mutex with a condition variable, for the few places that must *wait* for a state change from another
/// thread (group commit, a stream waiting for new events). `Synchronization.Mutex` has no condition variable,
/// and the waiting threads here are plain pthreads (FastCGI workers), not Swift tasks.
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        // Timed waits use CLOCK_MONOTONIC so a wall-clock jump cannot stretch or cut a heartbeat.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Runs `body` with the mutex released; call only inside `withLock` (for slow work such as `fdatasync`).
    public func withUnlocked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_unlock(mutex)
        defer { pthread_mutex_lock(mutex) }
        return try body()
    }

    /// Waits for a broadcast. Call only inside `withLock`; spurious wake-ups happen, so re-check the state.
    public func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// Waits for a broadcast or until `deadlineNanos` on CLOCK_MONOTONIC. Call only inside `withLock`.
    public func wait(untilMonotonicNanos deadlineNanos: UInt64) {
        var spec = timespec(tv_sec: Int(deadlineNanos / 1_000_000_000), tv_nsec: Int(deadlineNanos % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &spec)
    }

    public func broadcast() {
        pthread_cond_broadcast(condition)
    }

    /// Nanoseconds on CLOCK_MONOTONIC, the clock `wait(untilMonotonicNanos:)` uses.
    public static func monotonicNanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
