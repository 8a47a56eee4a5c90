#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// How fast an offline replay (`runjournal replay --pace`) emits events.
///
/// Exists so "show me this run as it happened" is reproducible from a copied journal alone: the gaps come
/// from the events' own `ts`, not from when the replay happens to read them.
public enum ReplayPace: Sendable, Equatable, CustomStringConvertible {
    /// No waiting: as fast as the output takes it (the default).
    case max
    /// The original gaps divided by `speed`: 1 is real time, 10 is ten times faster, 0.5 half speed.
    case scaled(speed: Double)

    /// Parses `max`, `realtime` (= `x1`) or `xN` with N a positive number (`x10`, `x0.5`); nil otherwise.
    public init?(parsing text: String) {
        switch text {
        case "max": self = .max
        case "realtime": self = .scaled(speed: 1)
        default:
            guard text.first == "x", let speed = Double(text.dropFirst()), speed.isFinite, speed > 0 else { return nil }
            self = .scaled(speed: speed)
        }
    }

    public var description: String {
        switch self {
        case .max: return "max"
        case .scaled(let speed): return speed == 1 ? "realtime" : "x\(speed)"
        }
    }
}

/// The time seam of `ReplayPacer`: a monotonic "now" and a way to wait for a point in it. Tests pass a
/// virtual clock whose `sleep` only moves its own "now", so pacing is checked without sleeping.
public protocol PacingClock {
    /// Nanoseconds on a monotonic clock (any origin).
    func nowNanos() -> UInt64
    /// Returns once `nowNanos() >= deadline`.
    func sleep(untilNanos deadline: UInt64)
}

/// The real pacing clock: CLOCK_MONOTONIC and an absolute `clock_nanosleep` (an interrupted sleep resumes
/// toward the same deadline, so signals cannot shorten or stretch a gap).
public struct MonotonicPacingClock: PacingClock {
    public init() {}

    public func nowNanos() -> UInt64 {
        UInt64(MonotonicTime.now().nanoseconds)
    }

    public func sleep(untilNanos deadline: UInt64) {
        var spec = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &spec, nil) == EINTR {}
    }
}

/// Decides when each replayed event is due and waits for it.
///
/// Every deadline is measured from the first event (its `ts` is mapped to the moment it was emitted), not
/// from the previous one: time spent writing output or a slow reader then never accumulates as drift, and
/// a replay that fell behind catches up instead of staying late. An event whose `ts` is earlier than the
/// first one's (a journal written across a clock step) is due at once.
public struct ReplayPacer<Clock: PacingClock> {
    public let pace: ReplayPace
    public let clock: Clock
    private var anchor: (wallNanos: UInt64, timestampMillis: Int64)?

    public init(pace: ReplayPace, clock: Clock) {
        self.pace = pace
        self.clock = clock
    }

    /// When the event stamped `timestampMillis` is due on `clock`, anchoring on the first event asked about.
    /// Nil with `.max` (never wait).
    public mutating func dueNanos(forEventAt timestampMillis: Int64) -> UInt64? {
        guard case .scaled(let speed) = pace else { return nil }
        guard let anchor else {
            let now = clock.nowNanos()
            self.anchor = (now, timestampMillis)
            return now
        }
        let elapsedMillis = timestampMillis - anchor.timestampMillis
        guard elapsedMillis > 0 else { return anchor.wallNanos }
        let offset = (Double(elapsedMillis) * 1_000_000 / speed).rounded()
        // Gaps longer than ~292 years (or a tiny speed) saturate rather than overflow.
        guard offset < Double(UInt64.max - anchor.wallNanos) else { return UInt64.max }
        return anchor.wallNanos + UInt64(offset)
    }

    /// Waits until the event stamped `timestampMillis` is due. `beforeWaiting` runs only when there is
    /// something to wait for — flush buffered output there, so what is due is seen before the pause.
    public mutating func wait<E: Error>(
        forEventAt timestampMillis: Int64, beforeWaiting: () throws(E) -> Void
    ) throws(E) {
        guard let due = dueNanos(forEventAt: timestampMillis), due > clock.nowNanos() else { return }
        try beforeWaiting()
        clock.sleep(untilNanos: due)
    }
}
