#if canImport(Glibc)
import Glibc
#endif

/// A point on CLOCK_MONOTONIC: the clock every timed wait (`ConditionLock`, `Condition`, `WakeSignal`) and
/// every duration measured in-process uses, because a wall-clock jump must not stretch or cut a heartbeat,
/// a stop grace or a sync timing.
public struct MonotonicTime: Comparable, Hashable, Sendable {
    public let nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func now() -> MonotonicTime {
        var spec = Glibc.timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return MonotonicTime(nanoseconds: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }

    /// Milliseconds since the clock's origin (fixed for the life of the process).
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }

    /// Saturates instead of overflowing, so "wait forever" can be written as a very long duration.
    public static func + (lhs: MonotonicTime, rhs: Duration) -> MonotonicTime {
        let (seconds, attoseconds) = rhs.components
        let added = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !added.overflow else { return MonotonicTime(nanoseconds: .max / 2) }
        return MonotonicTime(nanoseconds: lhs.nanoseconds &+ added.partialValue &+ attoseconds / 1_000_000_000)
    }

    public static func < (lhs: MonotonicTime, rhs: MonotonicTime) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public var timespec: Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }
}
