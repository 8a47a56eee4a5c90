import Foundation
import RunJournal
import Testing

@testable import RunsAPI
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// The waiting primitives under every stream and the sweeper: `WakeSignal`, `ShutdownSignal`, `RealSleeper`,
/// and the sweeper's own background loop. Real threads here, but nothing asserts how fast anything is: a
/// broken wake-up shows up as a test that waits out its generous deadline and fails.
@Suite("Signals and sleepers")
struct SignalsTests {
    @Test("a wake signal stays raised until consumed, and consume lowers it")
    func wakeSignalConsume() {
        let signal = WakeSignal()
        #expect(!signal.isRaised)
        #expect(!signal.consume())
        signal.raise()
        signal.raise()
        #expect(signal.isRaised)
        #expect(signal.consume())
        #expect(!signal.isRaised)
        #expect(!signal.consume())
    }

    @Test("shutdown raises every registered signal, and a signal registered after it is raised at once")
    func shutdownRaisesRegistered() {
        let shutdown = ShutdownSignal()
        let first = WakeSignal()
        let second = WakeSignal()
        let gone = WakeSignal()
        shutdown.register(first)
        shutdown.register(second)
        shutdown.register(gone)
        shutdown.unregister(gone)
        #expect(!shutdown.isShuttingDown)
        shutdown.trigger()
        #expect(shutdown.isShuttingDown)
        #expect(first.isRaised && second.isRaised)
        #expect(!gone.isRaised, "an unregistered signal is left alone")
        let late = WakeSignal()
        shutdown.register(late)
        #expect(late.isRaised)
    }

    @Test("the real sleeper returns at once for a deadline in the past or a signal already raised")
    func realSleeperReturnsAtOnce() {
        let clock = SystemClock()
        let sleeper = RealSleeper(clock: clock)
        let signal = WakeSignal()
        sleeper.sleep(untilMillis: clock.nowMillis() - 1000, orUntil: signal)
        signal.raise()
        // With the signal raised, a deadline an hour away must not be waited for (the test would hang).
        sleeper.sleep(untilMillis: clock.nowMillis() + 3_600_000, orUntil: signal)
        #expect(signal.isRaised, "sleeping does not lower the signal")
    }

    @Test("the real sleeper wakes when another thread raises the signal")
    func realSleeperWakesOnRaise() {
        let clock = SystemClock()
        let sleeper = RealSleeper(clock: clock)
        let signal = WakeSignal()
        let raiser = Thread {
            usleep(20_000)
            signal.raise()
        }
        raiser.start()
        sleeper.sleep(untilMillis: clock.nowMillis() + 3_600_000, orUntil: signal)
        #expect(signal.isRaised)
    }

    @Test("the real sleeper returns once the deadline passes")
    func realSleeperHonoursDeadline() {
        let clock = SystemClock()
        let sleeper = RealSleeper(clock: clock)
        let deadline = clock.nowMillis() + 30
        sleeper.sleep(untilMillis: deadline, orUntil: WakeSignal())
        #expect(clock.nowMillis() >= deadline)
    }

    @Test("a sweeper whose thread the system refuses says so (serve then does not start) instead of trapping")
    func sweeperThreadRefusedThrows() throws {
        let api = try APIHarness()
        ThreadStartFaults.failNext(named: "rj-sweeper")
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 1)
        #expect(throws: ThreadStartError(name: "rj-sweeper", errno: EAGAIN)) { try sweeper.start() }
    }

    @Test("the background sweeper acts at the deadline on its interval and stops on shutdown")
    func backgroundSweeperActsThenStops() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 1)
        try sweeper.start()
        // The sweeper's thread drives the virtual clock through the VirtualSleeper; wait (for real, generously)
        // until it has acted.
        let giveUp = SystemClock().nowMillis() + 60_000
        while !api.journalTypes(id).contains("run.failed"), SystemClock().nowMillis() < giveUp {
            usleep(1000)
        }
        api.shutdown.trigger()
        let failed = try #require(api.journal(id).last)
        #expect(failed.type == "run.failed")
        #expect(failed.ts == Timestamp.format(millis: api.at(300)), "swept on a 1 s interval from t0: exactly at the deadline")
        #expect(api.journal(id).count == 2)
    }
}
