import RunJournal
import Testing

@testable import RunsAPI

/// How a stream ends from outside: the client hangs up (seen while idle, or by a failing write) or the server
/// shuts down. Each is a normal end: `run` returns without throwing and releases the follow and the hang-up
/// registration.
@Suite("Events stream: client gone and shutdown")
struct ClientGoneTests {
    @Test("a hang-up while idle ends the stream at that moment, not at the next heartbeat, and cancels the follow")
    func hangupWhileIdleEndsPromptly() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        let writer = api.writer()
        api.schedule(at: 40) { writer.hangUp() }
        api.schedule(at: 44) { Issue.record("the stream was still running after the hang-up") }
        api.runStream("r1", writer: writer)
        #expect(api.clock.nowMillis() == api.at(40))
        #expect(writer.frames.heartbeats.map(\.atMillis) == [api.at(15), api.at(30)])
        #expect(writer.writes.last?.atMillis == api.at(30), "nothing is written after the hang-up")
        let follows = api.follower.started
        #expect(follows.count == 1)
        #expect(follows.allSatisfy { $0.isCancelled })
        #expect(writer.observeCalls == 1)
        #expect(writer.hangupObservationCancelled == true)
    }

    @Test("a write that throws clientGone ends the stream without an error")
    func failingWriteEndsStream() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        // Write 1 is the replay; write 2 is the live event at 10 s, and the client is gone by then.
        let writer = api.writer(failOnWrite: 2)
        api.schedule(at: 10) { _ = try? api.append(id, "step") }
        api.schedule(at: 11) { Issue.record("the stream was still running after a failed write") }
        api.runStream("r1", writer: writer)  // records an issue if it throws
        #expect(api.clock.nowMillis() == api.at(10))
        #expect(writer.frames.eventIDs == [1, 2])
        #expect(api.follower.allFollowsCancelled)
        #expect(writer.hangupObservationCancelled == true)
    }

    @Test("a flush that throws clientGone ends the stream without an error")
    func failingFlushEndsStream() throws {
        let api = try APIHarness()
        try api.createRun("r1")
        let writer = api.writer(failOnFlush: 2)  // the first heartbeat's flush
        api.runStream("r1", writer: writer)
        #expect(api.clock.nowMillis() == api.at(15))
        #expect(api.follower.allFollowsCancelled)
        #expect(writer.hangupObservationCancelled == true)
    }

    @Test("a client gone during the replay ends the stream without an error and without following")
    func clientGoneDuringReplay() throws {
        let api = try APIHarness { $0.replayChunkBytes = 1024 }
        let id = try api.createRun("r1")
        try api.append(id, batch: (0..<500).map { n in ("tick", #"{"n":\#(n)}"#) })
        let writer = api.writer(failOnWrite: 3)
        api.runStream("r1", writer: writer)
        #expect(writer.writes.count == 2)
        #expect(api.follower.started.isEmpty)
        #expect(writer.hangupObservationCancelled == true)
    }

    @Test("the run closure itself returns normally when the client goes away")
    func runReturnsWithoutThrowing() throws {
        let api = try APIHarness()
        try api.createRun("r1")
        let writer = api.writer()
        api.schedule(at: 3) { writer.hangUp() }
        let response = api.events("r1")
        guard case .stream(let body) = response.body else {
            Issue.record("expected a stream")
            return
        }
        #expect(throws: Never.self) { try body(writer) }
    }

    @Test("shutdown ends an idle stream at once")
    func shutdownEndsStream() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        let writer = api.writer()
        api.schedule(at: 50) { api.shutdown.trigger() }
        api.runStream("r1", writer: writer)
        #expect(api.clock.nowMillis() == api.at(50))
        #expect(api.follower.allFollowsCancelled)
        #expect(writer.hangupObservationCancelled == true)
        #expect(api.journalTypes(id) == ["run.created", "run.started"])
    }

    @Test("a stream opened after shutdown began ends right after its replay")
    func streamAfterShutdownEnds() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        api.shutdown.trigger()
        let writer = api.runStream("r1")
        #expect(writer.frames.eventIDs == [1, 2])
        #expect(api.clock.nowMillis() == api.t0)
    }
}
