#if canImport(Glibc)
import Glibc
#endif

/// The source of "now" for timestamps, idle times and stop grace. Injected so tests run in virtual time and
/// so every stream and process derives idle time from the same notion of now.
public protocol WallClock: Sendable {
    /// Milliseconds since the Unix epoch (UTC).
    func nowMillis() -> Int64
}

/// The real clock: `clock_gettime(CLOCK_REALTIME)`.
public struct SystemClock: WallClock {
    public init() {}
    public func nowMillis() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
