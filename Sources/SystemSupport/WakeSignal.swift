import Synchronization

/// A raised/lowered flag a thread sleeps on: the tailer (new bytes), the transport (client hung up), the
/// directory watch, the interrupt thread and shutdown raise it; the waiting stream or follow loop wakes and
/// lowers it before looking at what changed. Raising is cheap and never blocks for long, so it is safe from
/// the tailer's dispatch thread.
public final class WakeSignal: Sendable {
    private let lock = ConditionLock()
    private let raised = Atomic<Bool>(false)

    public init() {}

    public func raise() {
        lock.withLock {
            raised.store(true, ordering: .sequentiallyConsistent)
            lock.broadcast()
        }
    }

    /// Returns whether it was raised, and lowers it.
    public func consume() -> Bool {
        raised.exchange(false, ordering: .sequentiallyConsistent)
    }

    public var isRaised: Bool { raised.load(ordering: .sequentiallyConsistent) }

    /// Blocks until raised or until `deadline` passes. Does not lower it.
    public func wait(until deadline: MonotonicTime) {
        lock.withLock {
            while !isRaised, MonotonicTime.now() < deadline {
                lock.wait(until: deadline)
            }
        }
    }

    /// Blocks until raised, then lowers it.
    public func waitAndLower() {
        lock.withLock {
            while !isRaised { lock.wait() }
            raised.store(false, ordering: .sequentiallyConsistent)
        }
    }
}
