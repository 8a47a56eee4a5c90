import RunJournal
import Synchronization
import SystemSupport

/// How long this process has itself watched a run stay silent, on the monotonic clock.
///
/// The lifecycle rules state idle time from the wall-clock `ts` of the last event; a forward step of the wall
/// clock (NTP, a resumed VM) would make every active run look idle at once. So, per run, this records the
/// monotonic time at which this process *first saw* the run's current last event (and its stop request), and
/// `LifecyclePolicy` also requires that much silence since then. Seeing comes from the streams (every line
/// they read), the sweeper (every pass lists every active run) and the re-check under the journal lock.
///
/// One instance per responder, shared by its streams and its sweeper (`RunsContext.silence`). Entries go when
/// a run ends, and the sweeper drops the entries of runs it no longer lists, so the table holds at most the
/// active runs.
public final class SilenceObservations: Sendable {
    /// What this process has seen of one run, keyed by what identifies the state: a new event (or a run
    /// re-created under the same id, which restarts `created`) is a new state, first seen now.
    private struct Entry {
        var createdAtMillis: Int64
        var lastSeq: Int64
        var lastSeenAt: Int64
        var stopRequestSeenAt: Int64?
    }

    private let clock: any MonotonicClock
    private let entries = LockedValue<[RunID: Entry]>([:])

    public init(clock: any MonotonicClock) {
        self.clock = clock
    }

    /// Records that this process sees `summary` now and answers how long it has seen it unchanged.
    public func observe(_ summary: RunSummary) -> SilenceObservation {
        let now = clock.monotonicMillis()
        if summary.status.isTerminal {
            _ = entries.withLock { $0.removeValue(forKey: summary.id) }
            return SilenceObservation(silentMillis: 0, stopRequestMillis: summary.stopRequested ? 0 : nil)
        }
        return entries.withLock { entries in
            var entry = entries[summary.id]
            if entry == nil || entry!.createdAtMillis != summary.createdAtMillis || entry!.lastSeq != summary.lastSeq {
                let keptStop = entry?.createdAtMillis == summary.createdAtMillis ? entry?.stopRequestSeenAt : nil
                entry = Entry(
                    createdAtMillis: summary.createdAtMillis, lastSeq: summary.lastSeq, lastSeenAt: now,
                    stopRequestSeenAt: keptStop)
            }
            if summary.stopRequested, entry!.stopRequestSeenAt == nil { entry!.stopRequestSeenAt = now }
            entries[summary.id] = entry!
            return SilenceObservation(
                silentMillis: now - entry!.lastSeenAt,
                stopRequestMillis: summary.stopRequested ? entry!.stopRequestSeenAt.map { now - $0 } : nil)
        }
    }

    /// Drops every entry but those of `active` (the sweeper's list of non-terminal runs). A run dropped by a
    /// race with its creation is simply seen again, later: that can only delay a failure, never hasten it.
    public func retain(only active: Set<RunID>) {
        entries.withLock { entries in
            entries = entries.filter { active.contains($0.key) }
        }
    }

    /// Runs currently tracked (for tests and statistics).
    public var count: Int { entries.withLock { $0.count } }
}

/// One answer of `SilenceObservations.observe`: milliseconds on the monotonic clock since this process first
/// saw the run's last event, and its stop request (nil when there is none).
public struct SilenceObservation: Sendable, Equatable {
    public var silentMillis: Int64
    public var stopRequestMillis: Int64?

    public init(silentMillis: Int64, stopRequestMillis: Int64?) {
        self.silentMillis = silentMillis
        self.stopRequestMillis = stopRequestMillis
    }
}
