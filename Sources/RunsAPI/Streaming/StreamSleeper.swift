import RunJournal
import Synchronization
import SystemSupport

/// How a stream waits: until its `WakeSignal` is raised or the injected clock reaches a deadline. The seam
/// that lets unit tests run heartbeats, the watchdog and stop grace in virtual time without sleeping.
public protocol StreamSleeper: Sendable {
    /// Blocks until `signal` is raised or `clock.nowMillis() >= deadlineMillis`. Does not lower the signal.
    func sleep(untilMillis deadlineMillis: Int64, orUntil signal: WakeSignal)
}

/// The real sleeper: a condition-variable wait, converted from the wall-clock deadline to a relative
/// monotonic one (a wall-clock jump shifts the deadline by at most one wait).
public struct RealSleeper: StreamSleeper {
    let clock: any WallClock

    public init(clock: any WallClock) { self.clock = clock }

    public func sleep(untilMillis deadlineMillis: Int64, orUntil signal: WakeSignal) {
        let remaining = deadlineMillis - clock.nowMillis()
        guard remaining > 0 else { return }
        signal.wait(until: MonotonicTime.now() + .milliseconds(remaining))
    }
}

/// Tells long-running work (streams, the sweeper) that the server is stopping, and wakes it.
public final class ShutdownSignal: Sendable {
    private let state = LockedValue<(stopping: Bool, waiters: [ObjectIdentifier: @Sendable () -> Void])>((false, [:]))

    public init() {}

    public var isShuttingDown: Bool { state.withLock { $0.stopping } }

    /// Starts the shutdown and wakes everyone registered.
    public func trigger() {
        let waiters = state.withLock { state -> [@Sendable () -> Void] in
            state.stopping = true
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter() }
    }

    func register(_ signal: WakeSignal) {
        register(key: ObjectIdentifier(signal)) { signal.raise() }
    }

    func unregister(_ signal: WakeSignal) {
        unregister(key: ObjectIdentifier(signal))
    }

    /// Calls `wake` on shutdown (at once if it has begun); `key` identifies the registration.
    func register(key: ObjectIdentifier, _ wake: @escaping @Sendable () -> Void) {
        let stopping = state.withLock { state -> Bool in
            state.waiters[key] = wake
            return state.stopping
        }
        if stopping { wake() }
    }

    func unregister(key: ObjectIdentifier) {
        _ = state.withLock { $0.waiters.removeValue(forKey: key) }
    }
}
