import RunJournal
import Testing

@testable import RunsAPI

/// The idle watchdog and stop grace across wall-clock steps (an NTP correction, a VM resumed after hours):
/// a run is failed for silence only once this responder has watched the silence last the whole timeout on
/// the monotonic clock, and a wall clock set back delays that by one more timeout at most.
@Suite("Lifecycle rules across wall-clock steps")
struct ClockStepTests {
    static let fiveMinutes: Int64 = 300_000

    @Test("a stream: a 5-minute forward step of the wall clock fails nothing until 300 s of silence have passed")
    func streamSurvivesForwardStep() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        api.schedule(at: 60) { api.clock.stepWallClock(by: Self.fiveMinutes) }
        let writer = api.runStream("r1")
        let last = try #require(writer.frames.last)
        #expect(last.eventType == "run.failed")
        // 300 s after the last event on the monotonic clock = 600 s by the stepped wall clock.
        #expect(last.atMillis == api.at(600), "failed at \(last.atMillis - api.t0) ms of wall time")
        #expect(api.clock.monotonicMillis() == api.at(300))
        #expect(api.journalTypes(id) == ["run.created", "run.started", "run.failed"])
        #expect(last.dataText == #"{"reason":"idle_timeout","idle_seconds":600}"#, "the idle time the journal's ts values show")
    }

    @Test("the sweeper: a 5-minute forward step fails no active run; they fail when 300 s of silence have passed")
    func sweeperSurvivesForwardStep() throws {
        let api = try APIHarness()
        let queued = try api.createRun("queued")
        let running = try api.createRun("running")
        try api.append(running, "run.started")
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 10)
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(by: 10_000)
        api.clock.stepWallClock(by: Self.fiveMinutes)
        #expect(sweeper.sweepOnce().isEmpty, "the step alone fails nothing")
        api.clock.advance(by: 100_000)
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(to: api.clock.nowMillis() + (api.at(300) - api.clock.monotonicMillis()) - 1)
        #expect(sweeper.sweepOnce().isEmpty, "a millisecond before 300 s of observed silence")
        api.clock.advance(by: 1)
        #expect(api.clock.monotonicMillis() == api.at(300))
        #expect(Set(sweeper.sweepOnce()) == [queued, running])
        #expect(api.journalTypes(queued) == ["run.created", "run.failed"])
        #expect(api.journalTypes(running) == ["run.created", "run.started", "run.failed"])
    }

    @Test("an event first seen after a forward step is given the whole timeout from when it was seen")
    func eventSeenAfterStepGetsWholeTimeout() throws {
        let api = try APIHarness()
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 10)
        let id = try api.createRun("r1")  // written by another process, not seen yet
        api.clock.stepWallClock(by: Self.fiveMinutes)
        #expect(sweeper.sweepOnce().isEmpty, "by its ts it is 300 s silent, but this process has only just seen it")
        api.clock.advance(by: 299_999)
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(by: 1)
        #expect(sweeper.sweepOnce() == [id])
    }

    @Test("stop grace: a forward step does not cut the grace short")
    func stopGraceSurvivesForwardStep() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.waiting")  // not idle: only stop grace applies
        #expect(api.request("POST", "/v1/runs/r1/stop").status == 202)
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 10)
        api.clock.stepWallClock(by: Self.fiveMinutes)
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(by: 29_999)
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(by: 1)
        #expect(sweeper.sweepOnce() == [id])
        #expect(api.journalTypes(id).last == "run.stopped")
    }

    @Test("a backward step delays the watchdog by one more timeout at most, not until the wall clock catches up")
    func backwardStepIsBounded() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 10)
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(by: 10_000)
        api.clock.stepWallClock(by: -3_600_000)  // one hour back
        api.clock.advance(by: 290_000)
        #expect(sweeper.sweepOnce().isEmpty, "300 s observed, but by the wall clock the run is not idle yet")
        api.clock.advance(by: 299_999)
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(by: 1)
        #expect(api.clock.monotonicMillis() == api.at(600))
        #expect(sweeper.sweepOnce() == [id], "twice the timeout observed: the wall clock is no longer waited for")
        #expect(String(decoding: api.journal(id).last?.data ?? [], as: UTF8.self) == #"{"reason":"idle_timeout","idle_seconds":600}"#)
    }

    @Test("a stream after a backward step fails the run at twice the timeout of observed silence")
    func streamBackwardStepIsBounded() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        api.schedule(at: 10) { api.clock.stepWallClock(by: -3_600_000) }
        let writer = api.runStream("r1")
        #expect(writer.frames.last?.eventType == "run.failed")
        #expect(api.clock.monotonicMillis() == api.at(600))
        #expect(api.journalTypes(id) == ["run.created", "run.failed"])
    }

    @Test("heartbeats keep their 15 s rhythm when the wall clock is set back an hour")
    func heartbeatsSurviveBackwardStep() throws {
        let api = try APIHarness { $0.idleTimeoutSeconds = nil }
        _ = try api.createRun("r1")
        let writer = api.writer()
        api.schedule(at: 20) {
            api.clock.stepWallClock(by: -3_600_000)
            // 120 s after the start on the monotonic clock: 100 s after the step.
            api.sleeper.schedule(atMillis: api.clock.nowMillis() + 100_000) { writer.hangUp() }
        }
        api.runStream("r1", writer: writer)
        #expect(api.clock.monotonicMillis() == api.at(120))
        #expect(writer.frames.heartbeats.count == 7, "at 15, 30, … 105 s of monotonic time")
    }
}
