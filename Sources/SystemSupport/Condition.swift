#if canImport(Glibc)
import Glibc
#endif

/// A condition variable on the monotonic clock, waited on with a `ConditionLock` held: for a lock that needs
/// more than its own condition (the worker pool wakes one specific worker, and waits for all to exit).
public final class Condition: @unchecked Sendable {
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        cond = .allocate(capacity: 1)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        // Timed waits use CLOCK_MONOTONIC so a wall-clock jump cannot stretch or cut a heartbeat.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    /// Waits; the caller holds `lock` and re-checks its predicate (spurious wake-ups happen).
    public func wait(_ lock: ConditionLock) { pthread_cond_wait(cond, lock.mutex) }

    /// Waits until `deadline`; returns false once it has passed.
    @discardableResult
    public func wait(_ lock: ConditionLock, until deadline: MonotonicTime) -> Bool {
        var spec = deadline.timespec
        return pthread_cond_timedwait(cond, lock.mutex, &spec) != ETIMEDOUT
    }

    public func signal() { pthread_cond_signal(cond) }
    public func broadcast() { pthread_cond_broadcast(cond) }
}
