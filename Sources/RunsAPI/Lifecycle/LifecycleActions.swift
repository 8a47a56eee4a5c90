import Logging
import SystemSupport
import RunJournal

/// Runs the lifecycle appends of parked streams (idle watchdog, stop grace) off the transport's event loop.
/// Such an append takes the journal lock and, with `--fsync always`, waits for a sync; on the loop that would
/// hold up every stream of every run for as long as the disk takes. One thread, started on first use, runs
/// them in order (they are rare: one per run per deadline). If the thread cannot be started the action runs
/// on the caller, as it did before streams were parked, and that is logged once.
public final class LifecycleActions: Sendable {
    private let lock = ConditionLock()
    private let state = LockedValue<(queue: [@Sendable () -> Void], started: Bool, failed: Bool)>(([], false, false))
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Runs `action` on the lifecycle thread (or here, when that thread cannot exist).
    func run(_ action: @escaping @Sendable () -> Void) {
        let (mustStart, inline) = state.withLock { state -> (Bool, Bool) in
            if state.failed { return (false, true) }
            state.queue.append(action)
            defer { state.started = true }
            return (!state.started, false)
        }
        if inline {
            action()
            return
        }
        if mustStart {
            do {
                try startDetachedThread(name: "rj-lifecycle", stackSize: 256 * 1024) { [self] in self.drain() }
            } catch {
                logger.error("cannot start the lifecycle thread; parked streams run their lifecycle appends themselves", metadata: ["error": "\(error)"])
                let queued = state.withLock { state -> [@Sendable () -> Void] in
                    state.failed = true
                    defer { state.queue = [] }
                    return state.queue
                }
                for queuedAction in queued { queuedAction() }
                return
            }
        }
        lock.withLock { lock.broadcast() }
    }

    private func drain() {
        while true {
            let next = lock.withLock { () -> (@Sendable () -> Void) in
                while true {
                    if let action = state.withLock({ $0.queue.isEmpty ? nil : $0.queue.removeFirst() }) { return action }
                    lock.wait()
                }
            }
            next()
        }
    }
}
