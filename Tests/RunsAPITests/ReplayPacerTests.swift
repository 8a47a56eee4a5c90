import RunsAPI
import Testing

/// A clock that only moves when told to or when slept on: `sleep` jumps to the deadline and records it.
private final class VirtualPacingClock: PacingClock {
    var now: UInt64
    private(set) var sleeps: [UInt64] = []

    init(startingAt now: UInt64 = 5_000_000_000) { self.now = now }

    func nowNanos() -> UInt64 { now }

    func sleep(untilNanos deadline: UInt64) {
        sleeps.append(deadline)
        now = max(now, deadline)
    }

    /// Sleeps relative to the start, in milliseconds, for readable expectations.
    func sleepsMillis(since start: UInt64) -> [Double] { sleeps.map { Double($0 - start) / 1_000_000 } }
}

/// Replays `timestamps` through a pacer; returns the virtual time (ms since start) at which each was emitted
/// and how many times output was flushed before a wait.
private func emit(_ timestamps: [Int64], pace: ReplayPace, clock: VirtualPacingClock, work: UInt64 = 0) -> (emitted: [Double], flushes: Int) {
    let start = clock.now
    var pacer = ReplayPacer(pace: pace, clock: clock)
    var emitted: [Double] = []
    var flushes = 0
    for ts in timestamps {
        pacer.wait(forEventAt: ts) { flushes += 1 }
        emitted.append(Double(clock.now - start) / 1_000_000)
        clock.now += work  // time spent writing the event
    }
    return (emitted, flushes)
}

@Suite struct ReplayPacerTests {
    @Test func realtimeReproducesTheOriginalGapsInVirtualTime() {
        let clock = VirtualPacingClock()
        let base: Int64 = 1_795_000_000_000
        let result = emit([base, base + 1000, base + 1500, base + 4000], pace: .scaled(speed: 1), clock: clock)
        #expect(result.emitted == [0, 1000, 1500, 4000])
        #expect(clock.sleeps.count == 3)
        #expect(result.flushes == 3)
    }

    @Test func speedFactorDividesTheGaps() {
        let clock = VirtualPacingClock()
        let result = emit([0, 1000, 1500, 4000], pace: .scaled(speed: 10), clock: clock)
        #expect(result.emitted == [0, 100, 150, 400])
    }

    @Test func maxPaceNeverWaitsOrFlushes() {
        let clock = VirtualPacingClock()
        let result = emit([0, 60_000, 3_600_000], pace: .max, clock: clock)
        #expect(result.emitted == [0, 0, 0])
        #expect(clock.sleeps.isEmpty)
        #expect(result.flushes == 0)
    }

    @Test func timeSpentWritingDoesNotAccumulateAsDrift() {
        // 30 ms of work per event: deadlines stay anchored on the first event, so each wait is 30 ms shorter.
        let clock = VirtualPacingClock()
        let result = emit([0, 100, 200, 300], pace: .scaled(speed: 1), clock: clock, work: 30_000_000)
        #expect(result.emitted == [0, 100, 200, 300])
    }

    @Test func aReplayThatFellBehindCatchesUpWithoutWaiting() {
        // Writing the first event took 2 s (a blocked pipe): the next two are already due.
        let clock = VirtualPacingClock()
        var pacer = ReplayPacer(pace: .scaled(speed: 1), clock: clock)
        pacer.wait(forEventAt: 0) {}
        clock.now += 2_000_000_000
        pacer.wait(forEventAt: 500) {}
        pacer.wait(forEventAt: 1500) {}
        #expect(clock.sleeps.isEmpty)
        pacer.wait(forEventAt: 2500) {}
        #expect(clock.sleeps.count == 1)
    }

    @Test func aTimestampBeforeTheFirstIsDueAtOnce() {
        let clock = VirtualPacingClock()
        let result = emit([10_000, 9_000, 10_500], pace: .scaled(speed: 1), clock: clock)
        #expect(result.emitted == [0, 0, 500])
    }

    @Test func parsesPaceNames() {
        #expect(ReplayPace(parsing: "max") == .max)
        #expect(ReplayPace(parsing: "realtime") == .scaled(speed: 1))
        #expect(ReplayPace(parsing: "x10") == .scaled(speed: 10))
        #expect(ReplayPace(parsing: "x0.5") == .scaled(speed: 0.5))
        for invalid in ["", "x", "x0", "x-2", "xinf", "10", "fast", "xnan"] {
            #expect(ReplayPace(parsing: invalid) == nil, "\(invalid)")
        }
    }

    @Test func theRealClockSleepsUntilTheDeadline() {
        let clock = MonotonicPacingClock()
        let deadline = clock.nowNanos() + 2_000_000
        clock.sleep(untilNanos: deadline)
        #expect(clock.nowNanos() >= deadline)
    }
}
