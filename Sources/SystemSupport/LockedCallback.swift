#if canImport(Glibc)
import Glibc
#endif

/// A callback that one thread sets and others call: a closure slot behind a mutex.
///
/// Not `LockedValue<(() -> Void)?>`: `LockedValue.withLock` hands its value out `inout` through a generic
/// parameter, and every such access to a closure converts it to the generic representation and back, each
/// time wrapping it in two more reabstraction thunks. A waker read on every wake-up grew by two frames per
/// event, and a stream that had seen a few thousand events overflowed the stack of the thread that woke it.
/// Here the closure is a concrete stored property: reading it copies a reference, nothing more.
public final class LockedCallback: @unchecked Sendable {
    private let lock = ConditionLock()
    private var callback: (@Sendable () -> Void)?

    public init(_ callback: (@Sendable () -> Void)? = nil) {
        self.callback = callback
    }

    /// Replaces the callback (nil: none).
    public func set(_ callback: (@Sendable () -> Void)?) {
        lock.lock()
        self.callback = callback
        lock.unlock()
    }

    /// The current callback, to call outside the lock.
    public var current: (@Sendable () -> Void)? {
        lock.lock()
        defer { lock.unlock() }
        return callback
    }
}
