import SystemSupport

/// A clock that only ever moves forward at the rate time passes, whatever happens to the wall clock.
///
/// The wall clock (`WallClock`) is what event `ts` values are written in, so it is what idle times are stated
/// in; but it can step: an NTP correction, an operator's `date -s`, a VM resumed after hours. A decision that
/// destroys something (failing a run for silence) must not follow such a step, so it also asks this clock how
/// long the silence has lasted as this process saw it. Injected next to the `WallClock` so tests can step one
/// without the other.
public protocol MonotonicClock: Sendable {
    /// Milliseconds since an arbitrary origin fixed for the life of the process.
    func monotonicMillis() -> Int64
}

/// The real monotonic clock: `clock_gettime(CLOCK_MONOTONIC)`.
///
/// CLOCK_MONOTONIC, not CLOCK_BOOTTIME: it does not count time the machine spent suspended. A producer on a
/// suspended machine (or VM) was frozen too, so that time is not silence on its part; leaving it out can only
/// make the watchdog later, never earlier.
public struct SystemMonotonicClock: MonotonicClock {
    public init() {}
    public func monotonicMillis() -> Int64 {
        MonotonicTime.now().milliseconds
    }
}

/// The production clock answers both questions.
extension SystemClock: MonotonicClock {
    public func monotonicMillis() -> Int64 { SystemMonotonicClock().monotonicMillis() }
}
