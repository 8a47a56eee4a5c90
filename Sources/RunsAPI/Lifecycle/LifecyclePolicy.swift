import RunJournal

/// The server's two lifecycle rules, as pure functions of a run's summary and "now", shared by every
/// stream and by the sweeper so they can never disagree:
///
/// - Idle watchdog: a queued or running run (not waiting on a human) with no event for `idleTimeout` gets
///   `run.failed {"reason":"idle_timeout","idle_seconds":N}`.
/// - Stop grace: a run with `run.stop_requested` and no terminal event `stopGrace` later gets
///   `run.stopped {"reason":"stop_grace_elapsed"}`.
///
/// Times are measured from max(the event's `ts`, the responder's start), on the injected clock. The decision
/// is taken twice: once to learn *when* to act (`nextDeadline`), and again under the journal lock
/// (`overdueEvents`, passed to `JournalStore.appendIf`) so an event that just arrived always wins.
public struct LifecyclePolicy: Sendable {
    public var idleTimeoutMillis: Int64?
    public var stopGraceMillis: Int64
    public var startedAtMillis: Int64

    public init(configuration: RunsAPIConfiguration) {
        idleTimeoutMillis = configuration.idleTimeoutSeconds.map { Int64($0) * 1000 }
        stopGraceMillis = Int64(configuration.stopGraceSeconds) * 1000
        startedAtMillis = configuration.startedAtMillis
    }

    /// When the run next needs the server to act (nil: never, unless a new event changes things).
    public func nextDeadline(_ summary: RunSummary) -> Int64? {
        guard !summary.status.isTerminal else { return nil }
        var deadline: Int64?
        if let idleTimeoutMillis, summary.lastType != EventType.waiting.rawValue {
            deadline = max(summary.updatedAtMillis, startedAtMillis) + idleTimeoutMillis
        }
        if summary.stopRequested, let requestedAt = summary.stopRequestedAtMillis {
            let graceDeadline = max(requestedAt, startedAtMillis) + stopGraceMillis
            deadline = min(deadline ?? graceDeadline, graceDeadline)
        }
        return deadline
    }

    /// The event to append now, if a rule is due; evaluated under the journal lock with a fresh summary.
    public func overdueEvents(_ summary: RunSummary, now: Int64) -> [NewEvent]? {
        guard !summary.status.isTerminal else { return nil }
        if summary.stopRequested, let requestedAt = summary.stopRequestedAtMillis,
            now >= max(requestedAt, startedAtMillis) + stopGraceMillis
        {
            return [NewEvent(type: .stopped, compactData: Array(#"{"reason":"stop_grace_elapsed"}"#.utf8))]
        }
        if let idleTimeoutMillis, summary.lastType != EventType.waiting.rawValue {
            let idle = now - max(summary.updatedAtMillis, startedAtMillis)
            if idle >= idleTimeoutMillis {
                var data = JSONWriter()
                data.object {
                    $0.key("reason"); $0.string("idle_timeout")
                    $0.key("idle_seconds"); $0.int(idle / 1000)
                }
                return [NewEvent(type: .failed, compactData: data.bytes)]
            }
        }
        return nil
    }
}
