import RunJournal
import RunsAPI

/// `LifecyclePolicy` as a responder that saw every event the moment it was written and whose wall clock
/// never stepped: the monotonic silence equals the wall-clock one. The tests of the rules themselves (what
/// is due when, the re-check under the lock) use these; the clock-step tests pass observations explicitly.
extension LifecyclePolicy {
    func nextDeadline(_ summary: RunSummary) -> Int64? {
        // With equal silences on both clocks the deadline does not depend on "now": any instant will do.
        let now = max(summary.updatedAtMillis, summary.stopRequestedAtMillis ?? 0, startedAtMillis)
        return nextDeadline(summary, now: now, observed: seenOnTime(summary, now: now))
    }

    func overdueEvents(_ summary: RunSummary, now: Int64) -> [NewEvent]? {
        overdueEvents(summary, now: now, observed: seenOnTime(summary, now: now))
    }

    private func seenOnTime(_ summary: RunSummary, now: Int64) -> SilenceObservation {
        SilenceObservation(
            silentMillis: now - max(summary.updatedAtMillis, startedAtMillis),
            stopRequestMillis: summary.stopRequestedAtMillis.map { now - max($0, startedAtMillis) })
    }
}
