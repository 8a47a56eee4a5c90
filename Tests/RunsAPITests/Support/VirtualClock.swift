import RunJournal
import Testing
import SystemSupport

/// Virtual wall-clock time for the API's tests: it moves only when a test (or the `VirtualSleeper`) moves it,
/// so heartbeats, the idle watchdog and stop grace are checked to the millisecond without sleeping.
/// The store and the streams share one instance, so event `ts` values are in the same virtual time.
///
/// It is also the monotonic clock: `advance` moves both (time passes), `stepWallClock` moves only the wall
/// clock (an NTP step, a resumed VM), which is how tests check that a step never fails a run.
final class VirtualClock: WallClock, MonotonicClock {
    /// An arbitrary but fixed start (2027-01-15T08:00:00.000Z) so timestamps in failures are readable.
    static let defaultStart: Int64 = 1_800_000_000_000

    private let millis: LockedValue<Int64>
    /// Monotonic time: starts where the wall clock started and moves with it except across `stepWallClock`.
    private let monotonic: LockedValue<Int64>

    init(_ start: Int64 = VirtualClock.defaultStart) {
        millis = LockedValue(start)
        monotonic = LockedValue(start)
    }

    func nowMillis() -> Int64 { millis.withLock { $0 } }

    func monotonicMillis() -> Int64 { monotonic.withLock { $0 } }

    /// Steps the wall clock by `delta` (either way) while no time passes: the monotonic clock stays put.
    func stepWallClock(by delta: Int64) {
        millis.withLock { $0 += delta }
    }

    /// Moves to `target`; never backwards. Asking for the past (a stream ran longer than the test expected)
    /// is recorded as an issue and leaves the clock where it is, rather than crashing the test process.
    func advance(to target: Int64, sourceLocation: SourceLocation = #_sourceLocation) {
        let now = millis.withLock { now -> Int64 in
            let before = now
            now = max(now, target)
            monotonic.withLock { $0 += now - before }
            return before
        }
        if target < now {
            Issue.record("virtual time cannot go backwards (now \(now), asked for \(target))", sourceLocation: sourceLocation)
        }
    }

    func advance(by delta: Int64, sourceLocation: SourceLocation = #_sourceLocation) {
        if delta < 0 { Issue.record("virtual time cannot go backwards (by \(delta))", sourceLocation: sourceLocation) }
        millis.withLock { $0 += max(0, delta) }
        monotonic.withLock { $0 += max(0, delta) }
    }
}
