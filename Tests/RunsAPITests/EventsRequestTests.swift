import RunJournal
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import RunsAPI

/// `GET /v1/runs/:id/events` up to the first byte of the stream: which answers come before any stream header,
/// the stream's headers, and how the resume point is chosen and validated.
@Suite("Events stream: request and resume point")
struct EventsRequestTests {
    @Test("an unknown run is a 404 JSON error before any stream header")
    func unknownRunIs404() throws {
        let api = try APIHarness()
        let response = api.events("nope")
        expectError(response, 404, "run_not_found")
    }

    @Test("an invalid run id is a 400 JSON error")
    func invalidRunIDIs400() throws {
        let api = try APIHarness()
        for id in ["-leading-dash", "has.dot", "white space", String(repeating: "a", count: 65), "..", "%00"] {
            let response = api.events(id)
            expectError(response, 400, "invalid_run_id")
        }
    }

    @Test("a stream answers 200 with text/event-stream, no-cache and X-Accel-Buffering: no")
    func streamHeaders() throws {
        let api = try APIHarness()
        try api.createRun("r1")
        let response = api.events("r1")
        #expect(response.status == 200)
        #expect(response.isStream)
        #expect(response.header("Content-Type") == "text/event-stream")
        #expect(response.header("Cache-Control") == "no-cache")
        #expect(response.header("X-Accel-Buffering") == "no")
    }

    @Test("without a resume point the whole journal is replayed")
    func noResumePointReplaysAll() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "step", #"{"n":1}"#)
        try api.append(id, "run.completed")
        let writer = api.runStream("r1")
        #expect(writer.frames.eventIDs == [1, 2, 3])
    }

    @Test("Last-Event-ID resumes after that seq")
    func resumesAfterLastEventIDHeader() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        for n in 2...5 { try api.append(id, "step", #"{"n":\#(n)}"#) }
        try api.append(id, "run.completed")
        let writer = api.runStream("r1", lastEventID: "3")
        #expect(writer.frames.eventIDs == [4, 5, 6])
    }

    @Test("an event id of the run's own incarnation resumes after its seq, from the header or the query")
    func resumesAfterEventIDOfThisIncarnation() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        for n in 2...5 { try api.append(id, "step", #"{"n":\#(n)}"#) }
        try api.append(id, "run.completed")
        let everything = api.runStream("r1")
        let third = try #require(everything.frames.events[safe: 2])
        #expect(third.incarnation == "mywpiww0", "the run.created ts, 1_800_000_000_000 ms, in base 36")
        #expect(everything.frames.events.allSatisfy { $0.incarnation == "mywpiww0" })
        #expect(api.runStream("r1", lastEventID: "3.mywpiww0").frames.eventIDs == [4, 5, 6])
        #expect(api.runStream("r1", query: "4.mywpiww0").frames.eventIDs == [5, 6])
        #expect(api.events("r1", lastEventID: "6.mywpiww0").status == 204)
    }

    @Test("an event id of another incarnation (the run was deleted and created again) replays from the start")
    func eventIDOfAnotherIncarnationReplaysFromStart() throws {
        let api = try APIHarness()
        var id = try api.createRun("r1")
        for n in 2...5 { try api.append(id, "step", #"{"n":\#(n)}"#) }
        try api.append(id, "run.completed")
        let old = api.runStream("r1", lastEventID: "4")
        let oldLast = try #require(old.frames.events.last)
        #expect(oldLast.eventID == 6)
        let oldID = "\(oldLast.eventID!).\(oldLast.incarnation!)"
        #expect(api.events("r1", lastEventID: oldID).status == 204, "the client saw the end of the old run")

        // Deleted and created again under the same id, a little later: a new incarnation, seqs from 1.
        #expect(unlink(api.journalPath(id)) == 0)
        api.store.forget(id)
        api.clock.advance(to: api.at(2))
        id = try api.createRun("r1")
        try api.append(id, "fresh", #"{"n":2}"#)
        try api.append(id, "run.completed")
        let writer = api.runStream("r1", lastEventID: oldID)
        #expect(writer.frames.eventIDs == [1, 2, 3], "the new run's events, none skipped")
        #expect(writer.frames.events.map(\.eventType) == ["run.created", "fresh", "run.completed"])
        #expect(writer.frames.events.first?.incarnation != oldLast.incarnation)
        // Even past the new run's terminal seq: another incarnation is no reason for a 204.
        #expect(api.runStream("r1", lastEventID: "99.\(oldLast.incarnation!)").frames.eventIDs == [1, 2, 3])
        // A plain integer (a client of an older server) is a seq of the current incarnation, as before.
        #expect(api.runStream("r1", lastEventID: "1").frames.eventIDs == [2, 3])
    }

    @Test("the last_event_id query parameter resumes when there is no header")
    func resumesAfterQueryParameter() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        for n in 2...5 { try api.append(id, "step", #"{"n":\#(n)}"#) }
        try api.append(id, "run.completed")
        let writer = api.runStream("r1", query: "4")
        #expect(writer.frames.eventIDs == [5, 6])
    }

    @Test("the Last-Event-ID header wins over the query parameter")
    func headerWinsOverQuery() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        for n in 2...5 { try api.append(id, "step", #"{"n":\#(n)}"#) }
        try api.append(id, "run.completed")
        let writer = api.runStream("r1", lastEventID: "5", query: "1")
        #expect(writer.frames.eventIDs == [6])
        // And a bad query is not even looked at when the header is there.
        let other = api.runStream("r1", lastEventID: "4", query: "abc")
        #expect(other.frames.eventIDs == [5, 6])
    }

    static let invalidResumePoints = [
        "abc", "-1", "+3", "", "18446744073709551616", "1e3", "0x10", "3 4", "٣",
        "1.", ".5", "1.A", "1.5.6", "1.-5", "1. 5", "1.abcdefghijklmn", "1_5", "1.é",
    ]

    @Test("a Last-Event-ID that is not an event id (<seq> or <seq>.<incarnation>) is a 400", arguments: invalidResumePoints)
    func invalidHeaderIs400(value: String) throws {
        let api = try APIHarness()
        try api.createRun("r1")
        let message = expectError(api.events("r1", lastEventID: value), 400, "invalid_last_event_id")
        #expect(message.contains("Last-Event-ID"))
    }

    @Test("a last_event_id query value that is not an event id is a 400", arguments: invalidResumePoints)
    func invalidQueryIs400(value: String) throws {
        let api = try APIHarness()
        try api.createRun("r1")
        let message = expectError(api.events("r1", query: value), 400, "invalid_last_event_id")
        #expect(message.contains("last_event_id"))
    }

    @Test("the largest 64-bit value is accepted: nothing is replayed and the stream waits")
    func maxUInt64IsAcceptedAndWaits() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "step")
        let writer = api.writer()
        api.schedule(at: 20) { writer.hangUp() }
        api.runStream("r1", lastEventID: "18446744073709551615", writer: writer)
        let frames = writer.frames
        #expect(frames.first?.kind == .retry(1000))
        #expect(frames.events.isEmpty)
        #expect(frames.heartbeats.map(\.atMillis) == [api.at(15)])
        #expect(api.clock.nowMillis() == api.at(20))
    }

    @Test("a resume point beyond the last seq replays nothing and shows only later seqs")
    func resumeBeyondLastSeqWaits() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "step")  // seq 2
        for second in 1...9 {
            api.schedule(at: Double(second)) { _ = try? api.append(id, "step", #"{"at":\#(second)}"#) }  // seqs 3...11
        }
        api.schedule(at: 10) { _ = try? api.append(id, "run.completed") }  // seq 12
        let writer = api.runStream("r1", lastEventID: "10")
        let frames = writer.frames
        #expect(frames.eventIDs == [11, 12])
        #expect(frames.events.map(\.atMillis) == [api.at(9), api.at(10)])
    }

    @Test("resuming at the terminal seq is a 204 with no body")
    func resumeAtTerminalIs204() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.failed", #"{"reason":"boom"}"#)
        for value in ["2", "3", "18446744073709551615"] {
            let response = api.events("r1", lastEventID: value)
            #expect(response.status == 204)
            #expect(!response.isStream)
            #expect(response.bodyBytes.isEmpty)
        }
    }

    @Test("resuming before the terminal seq of an ended run replays the rest and ends")
    func resumeBeforeTerminalReplaysAndEnds() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "step")
        try api.append(id, "run.stopped", #"{"reason":"user"}"#)
        let writer = api.runStream("r1", lastEventID: "1")
        #expect(writer.frames.eventIDs == [2, 3])
        #expect(api.follower.started.isEmpty, "an ended run needs no live phase")
    }
}
