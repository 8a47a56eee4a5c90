import RunJournal
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// Ends the child's process group on a stop request: SIGTERM, then SIGKILL when it is still there after
/// the grace period — so a stop always ends, even for a child that ignores SIGTERM.
final class ChildStopper: @unchecked Sendable {
    private let processGroup: pid_t
    private let graceNanos: UInt64
    private let lock = ConditionLock()
    private var exited = false
    private var requested = false

    init(processGroup: pid_t, graceSeconds: Double) {
        self.processGroup = processGroup
        self.graceNanos = UInt64(max(0, graceSeconds) * 1e9)
    }

    /// Whether a stop was requested (then the run ends as `run.stopped`).
    var stopRequested: Bool { lock.withLock { requested } }

    /// Called once the child has been reaped: no more signals to its group.
    func childExited() {
        lock.withLock {
            exited = true
            lock.broadcast()
        }
    }

    /// Passes a signal exec received on to the child's group.
    func forward(_ signal: Int32) {
        lock.withLock { if !exited { _ = kill(-processGroup, signal) } }
    }

    /// SIGTERM now, SIGKILL after the grace period; blocks the calling thread for up to the grace period.
    func stop() {
        let deadline = ConditionLock.monotonicNanos() + graceNanos
        lock.withLock {
            requested = true
            guard !exited else { return }
            _ = kill(-processGroup, SIGTERM)
            while !exited && ConditionLock.monotonicNanos() < deadline { lock.wait(untilMonotonicNanos: deadline) }
            if !exited { _ = kill(-processGroup, SIGKILL) }
        }
    }
}
