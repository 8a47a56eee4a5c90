import RunJournal

/// The server's two lifecycle rules, as pure functions of a run's summary, "now" and what this process has
/// observed, shared by every stream and by the sweeper so they can never disagree:
///
/// - Idle watchdog: a queued or running run (not waiting on a human) with no event for `idleTimeout` gets
///   `run.failed {"reason":"idle_timeout","idle_seconds":N}`.
/// - Stop grace: a run with `run.stop_requested` and no terminal event `stopGrace` later gets
///   `run.stopped {"reason":"stop_grace_elapsed"}`.
///
/// Each rule needs two clocks to agree (`ClockedSilence`): the wall clock, from max(the event's `ts`, the
/// responder's start), so a journal never shows a failure less than the timeout after its last event; and
/// the monotonic clock, from when this process first saw that event (`SilenceObservations`), so a step of the
/// wall clock never fails a run. The decision is taken twice: once to learn *when* to act (`nextDeadline`),
/// and again under the journal lock (`overdueEvents`, passed to `JournalStore.appendIf`) so an event that
/// just arrived always wins.
public struct LifecyclePolicy: Sendable {
    public var idleTimeoutMillis: Int64?
    public var stopGraceMillis: Int64
    public var startedAtMillis: Int64

    public init(configuration: RunsAPIConfiguration) {
        idleTimeoutMillis = configuration.idleTimeoutSeconds.map { Int64($0) * 1000 }
        stopGraceMillis = Int64(configuration.stopGraceSeconds) * 1000
        startedAtMillis = configuration.startedAtMillis
    }

    /// When (wall clock) the run next needs the server to act: nil for never, unless a new event changes
    /// things. A deadline at or before `now` means "due now".
    public func nextDeadline(_ summary: RunSummary, now: Int64, observed: SilenceObservation) -> Int64? {
        guard !summary.status.isTerminal else { return nil }
        var remaining: Int64?
        if let idle = idleSilence(summary, now: now, observed: observed) {
            remaining = idle.remainingMillis
        }
        if let grace = graceSilence(summary, now: now, observed: observed) {
            remaining = min(remaining ?? grace.remainingMillis, grace.remainingMillis)
        }
        return remaining.map { now + $0 }
    }

    /// The event to append now, if a rule is due; evaluated under the journal lock with a fresh summary.
    public func overdueEvents(_ summary: RunSummary, now: Int64, observed: SilenceObservation) -> [NewEvent]? {
        guard !summary.status.isTerminal else { return nil }
        if let grace = graceSilence(summary, now: now, observed: observed), grace.isDue {
            return [NewEvent(type: .stopped, compactData: Array(#"{"reason":"stop_grace_elapsed"}"#.utf8))]
        }
        if let idle = idleSilence(summary, now: now, observed: observed), idle.isDue {
            var data = JSONWriter()
            data.object {
                $0.key("reason"); $0.string("idle_timeout")
                $0.key("idle_seconds"); $0.int(idle.elapsedMillis / 1000)
            }
            return [NewEvent(type: .failed, compactData: data.bytes)]
        }
        return nil
    }

    private func idleSilence(_ summary: RunSummary, now: Int64, observed: SilenceObservation) -> ClockedSilence? {
        guard let idleTimeoutMillis, summary.lastType != EventType.waiting.rawValue else { return nil }
        return ClockedSilence(
            limitMillis: idleTimeoutMillis, wallMillis: now - max(summary.updatedAtMillis, startedAtMillis),
            observedMillis: observed.silentMillis)
    }

    private func graceSilence(_ summary: RunSummary, now: Int64, observed: SilenceObservation) -> ClockedSilence? {
        guard summary.stopRequested, let requestedAt = summary.stopRequestedAtMillis else { return nil }
        return ClockedSilence(
            limitMillis: stopGraceMillis, wallMillis: now - max(requestedAt, startedAtMillis),
            observedMillis: observed.stopRequestMillis ?? 0)
    }
}

/// A wait measured on both clocks: due when the wall clock (from the event's `ts`) *and* the monotonic clock
/// (from when this process first saw the event) have both counted `limitMillis`.
///
/// - Wall clock stepped forward: the wall clock says due at once; the monotonic clock holds the decision
///   until this process has really watched the silence for the whole limit.
/// - Wall clock stepped backward: the wall clock lags. Waiting for it to catch up keeps a journal's
///   failure at least the limit after its last `ts`, but a clock set back by a day would keep a dead run
///   alive for a day. So the wall clock is trusted for one more limit at most: once this process has watched
///   the silence for twice the limit, the rule is due whatever the wall clock says (the monotonic silence
///   is a lower bound of the real one: the event was in the file before this process saw it).
struct ClockedSilence {
    let limitMillis: Int64
    /// Silence by the wall clock: now minus max(the event's `ts`, the responder's start).
    let wallMillis: Int64
    /// Silence this process observed on the monotonic clock.
    let observedMillis: Int64

    /// Milliseconds until due (zero or negative: due now).
    var remainingMillis: Int64 {
        let observedRemaining = limitMillis - observedMillis
        let wallRemaining = min(limitMillis - wallMillis, 2 * limitMillis - observedMillis)
        return max(observedRemaining, wallRemaining)
    }

    var isDue: Bool { remainingMillis <= 0 }

    /// The silence to report: the wall clock's (what the journal's `ts` values show) unless it is the
    /// smaller one (after a backward step), then what this process saw.
    var elapsedMillis: Int64 { max(wallMillis, observedMillis) }
}
