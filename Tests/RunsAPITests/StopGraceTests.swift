import RunJournal
import Testing

@testable import RunsAPI

/// Stop grace as a stream applies it: `run.stopped {"reason":"stop_grace_elapsed"}` `stopGraceSeconds` after
/// `run.stop_requested` unless the run ends on its own first.
@Suite("Events stream: stop grace")
struct StopGraceTests {
    @Test("with no terminal event within 30 s of the stop request, run.stopped is appended at exactly 30 s and ends the stream")
    func stopGraceElapses() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        api.schedule(at: 10) { _ = api.request("POST", "/v1/runs/r1/stop") }
        let writer = api.runStream("r1")
        let events = writer.frames.events
        #expect(events.map(\.eventType) == ["run.created", "run.started", "run.stop_requested", "run.stopped"])
        #expect(events[safe: 2]?.atMillis == api.at(10))
        #expect(events[safe: 3]?.atMillis == api.at(40))
        #expect(events[safe: 3]?.dataText == #"{"reason":"stop_grace_elapsed"}"#)
        #expect(writer.unflushedBytes == 0)
        #expect(api.clock.nowMillis() == api.at(40))
        let stopped = api.journal(id).filter { $0.type == "run.stopped" }
        #expect(stopped.count == 1)
        #expect(stopped.first?.ts == Timestamp.format(millis: api.at(40)))
        #expect(try api.store.summary(of: id).status == .stopped)
    }

    @Test("a terminal event before the grace elapses wins: no run.stopped")
    func terminalBeforeGraceWins() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        api.schedule(at: 10) { _ = try? api.store.requestStop(id) }
        api.schedule(at: 39.999) { _ = try? api.append(id, "run.completed", #"{"note":"finished in time"}"#) }
        let writer = api.runStream("r1")
        #expect(writer.frames.events.map(\.eventType) == ["run.created", "run.started", "run.stop_requested", "run.completed"])
        #expect(writer.frames.last?.atMillis == api.at(39.999))
        #expect(api.journalTypes(id) == ["run.created", "run.started", "run.stop_requested", "run.completed"])
    }

    @Test("stop grace applies to a waiting run and to a queued one")
    func stopGraceAppliesToWaitingAndQueued() throws {
        let api = try APIHarness()
        let waiting = try api.createRun("waiting")
        try api.append(waiting, "run.waiting")
        api.schedule(at: 5) { _ = try? api.store.requestStop(waiting) }
        let writer = api.runStream("waiting")
        #expect(writer.frames.last?.eventType == "run.stopped")
        #expect(writer.frames.last?.atMillis == api.at(35))

        let queued = try api.createRun("queued")
        _ = try api.store.requestStop(queued)  // at 35 s
        let second = api.runStream("queued")
        #expect(second.frames.last?.eventType == "run.stopped")
        #expect(second.frames.last?.atMillis == api.at(65))
    }

    @Test("the stop grace is configurable")
    func stopGraceIsConfigurable() throws {
        let api = try APIHarness { $0.stopGraceSeconds = 5 }
        let id = try api.createRun("r1")
        api.schedule(at: 1) { _ = try? api.store.requestStop(id) }
        let writer = api.runStream("r1")
        #expect(writer.frames.last?.eventType == "run.stopped")
        #expect(writer.frames.last?.atMillis == api.at(6))
    }

    @Test("a stop requested through this responder before the stream started is graced from the request, not from the stream")
    func stopRequestedBeforeStream() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        api.clock.advance(to: api.at(12))
        #expect(api.request("POST", "/v1/runs/r1/stop").status == 202)
        api.clock.advance(to: api.at(20))
        let writer = api.runStream("r1")
        #expect(writer.frames.last?.eventType == "run.stopped")
        #expect(writer.frames.last?.atMillis == api.at(42))
    }

    @Test("a stream resumed beyond the last seq still applies stop grace on time")
    func resumedBeyondAppliesStopGrace() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        api.schedule(at: 10) { _ = try? api.store.requestStop(id) }  // seq 3: not shown (resume 100)
        let writer = api.runStream("r1", lastEventID: "100")
        #expect(writer.frames.events.isEmpty)
        #expect(api.journalTypes(id).last == "run.stopped")
        #expect(api.journal(id).last?.ts == Timestamp.format(millis: api.at(40)))
        #expect(api.clock.nowMillis() == api.at(40), "the stream ends with the run")
    }
}
