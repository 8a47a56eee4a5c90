import RunJournal
import Synchronization

/// Virtual wall-clock time for the API's tests: it moves only when a test (or the `VirtualSleeper`) moves it,
/// so heartbeats, the idle watchdog and stop grace are checked to the millisecond without sleeping.
/// The store and the streams share one instance, so event `ts` values are in the same virtual time.
final class VirtualClock: WallClock {
    /// An arbitrary but fixed start (2027-01-15T08:00:00.000Z) so timestamps in failures are readable.
    static let defaultStart: Int64 = 1_800_000_000_000

    private let millis: Mutex<Int64>

    init(_ start: Int64 = VirtualClock.defaultStart) {
        millis = Mutex(start)
    }

    func nowMillis() -> Int64 { millis.withLock { $0 } }

    /// Moves to `target`; never backwards (a test that asks for the past has a bug, not a time machine).
    func advance(to target: Int64) {
        millis.withLock { now in
            precondition(target >= now, "virtual time cannot go backwards (now \(now), asked for \(target))")
            now = target
        }
    }

    func advance(by delta: Int64) {
        precondition(delta >= 0, "virtual time cannot go backwards")
        millis.withLock { $0 += delta }
    }
}
