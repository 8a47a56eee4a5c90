#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with a condition variable, for the places that must *wait* for a state change from another
/// thread: group commit, a stream waiting for new events, the worker pool handing a request to one idle
/// thread, the server's stop grace. `Synchronization.Mutex` has no condition variable and no timed wait, and
/// the waiting threads here are plain pthreads (FastCGI workers), not Swift tasks. More conditions on the same
/// mutex: `Condition`.
public final class ConditionLock: @unchecked Sendable {
    // Heap-allocated: pthread objects must not move, and a Swift stored property may.
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition = Condition()

    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// Takes the lock if it is free; never waits. False when another thread (or this one) holds it.
    public func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Runs `body` with the mutex released; call only inside `withLock` (for slow work such as `fdatasync`).
    public func withUnlocked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        unlock()
        defer { lock() }
        return try body()
    }

    /// Waits for a broadcast. Call only inside `withLock`; spurious wake-ups happen, so re-check the state.
    public func wait() {
        condition.wait(self)
    }

    /// Waits for a broadcast or until `deadline`. Call only inside `withLock`; false once the deadline passed.
    @discardableResult
    public func wait(until deadline: MonotonicTime) -> Bool {
        condition.wait(self, until: deadline)
    }

    /// Waits for a broadcast or until `deadlineNanos` on CLOCK_MONOTONIC. Call only inside `withLock`.
    public func wait(untilMonotonicNanos deadlineNanos: UInt64) {
        condition.wait(self, until: MonotonicTime(nanoseconds: Int64(clamping: deadlineNanos)))
    }

    public func broadcast() {
        condition.broadcast()
    }

    /// Nanoseconds on CLOCK_MONOTONIC, the clock `wait(untilMonotonicNanos:)` uses.
    public static func monotonicNanos() -> UInt64 {
        UInt64(MonotonicTime.now().nanoseconds)
    }
}
