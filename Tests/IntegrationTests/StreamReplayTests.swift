import Foundation
import Testing

/// `GET /v1/runs/:id/events` end to end through nginx and lighttpd: replay, live follow, resume points,
/// the end of a stream, and the exact bytes on the wire. Every test makes its own runs on the shared stack.
@Suite("Stream: replay, resume and the end of a stream")
struct StreamReplayTests {
    typealias Kind = WebServerFixture.Kind

    /// What the stream must have sent for the run's journal so far: `retry:` then every line's frame.
    /// Heartbeat comments are taken out of the received text first: with the default 15 s heartbeat one
    /// can slip in on a slow machine, and the heartbeat has its own test.
    static func expectedBody(_ stack: E2EStack, _ run: String, after resume: Int64 = 0, retry: Int = 1000) -> String {
        let incarnation = E2EJournalLine.incarnation(stack.journalDirectory, run)
        return "retry: \(retry)\n\n"
            + E2EJournalLine.read(stack.journalDirectory, run).filter { $0.seq > resume }.map { $0.frame(incarnation: incarnation) }.joined()
    }

    static func withoutHeartbeats(_ text: String) -> String {
        text.replacingOccurrences(of: ": heartbeat\n\n", with: "")
    }

    @Test("replays the journal frame by frame, follows it live, and closes right after the terminal event", arguments: Kind.allCases)
    func replaysFollowsAndClosesAfterTheTerminalEvent(kind: Kind) async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(kind)
        let run = try await api.createRun(id: e2eUniqueID("replay"), metadata: #"{"repo":"x"}"#)
        try await api.append(run, "run.started")
        try await api.append(run, "tool.output", #"{"text":"line with \"quotes\" and \\n escapes","n":[1,2.5,null]}"#)

        let stream = try api.stream(run)
        #expect(await stream.wait(timeout: .seconds(20)) { $0.events.count == 3 }, "replay: \(stream.text)")
        #expect(stream.status == 200)
        #expect(stream.header("Content-Type") == "text/event-stream")
        #expect(stream.header("Cache-Control") == "no-cache")
        #expect(Self.withoutHeartbeats(stream.text) == Self.expectedBody(stack, run))
        let incarnation = E2EJournalLine.incarnation(stack.journalDirectory, run)
        #expect(stream.text.hasPrefix("retry: 1000\n\nid: 1.\(incarnation)\nevent: run.created\ndata: {\"metadata\":{\"repo\":\"x\"}}\n\n"))

        try await api.append(run, "step", #"{"live":true}"#)
        #expect(await stream.wait(timeout: .seconds(20)) { $0.events.count == 4 }, "live: \(stream.text)")
        #expect(stream.events.last == SSEFrameRecord(id: 4, event: "step", data: #"{"live":true}"#))

        try await api.append(run, "run.completed", #"{"ok":true}"#)
        #expect(await stream.waitForEnd(timeout: .seconds(20)), "the stream stayed open after run.completed: \(stream.text)")
        #expect(stream.failure == nil)
        #expect(Self.withoutHeartbeats(stream.text) == Self.expectedBody(stack, run))
        #expect(stream.events.last?.event == "run.completed")
    }

    @Test("a real client (curl -N) gets the headers and the exact frame bytes", arguments: Kind.allCases)
    func curlSeesTheHeadersAndExactBytes(kind: Kind) async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(kind)
        let run = try await api.createRun(id: e2eUniqueID("curl"))
        try await api.append(run, "a.b:c-d_e", #"{"unicode":"é✓😀","escaped":"\u0001"}"#)
        let curl = try HTTPStream(stack.url(kind, "/v1/runs/\(run)/events"))
        #expect(curl.read(until: { $0.contains("id: 2.") && $0.hasSuffix("\n\n") }, timeout: .seconds(20)), "\(curl.received)")
        try await api.append(run, "run.failed", #"{"reason":"test"}"#)
        #expect(curl.waitForEnd(timeout: .seconds(20)), "curl did not see the end: \(curl.received)")
        #expect(curl.curlExitCode() == 0)
        #expect(Self.withoutHeartbeats(curl.received) == Self.expectedBody(stack, run))
        #expect(curl.received.contains(#"data: {"unicode":"é✓😀","escaped":"\u0001"}"#))
        let head = curl.head
        #expect(head.status == 200)
        #expect(head.header("Content-Type") == "text/event-stream")
        #expect(head.header("Cache-Control") == "no-cache")
    }

    @Test("resumes after Last-Event-ID, after ?last_event_id=, and the header wins over the query", arguments: Kind.allCases)
    func resumesAfterTheLastEventID(kind: Kind) async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(kind)
        let run = try await api.createRun(id: e2eUniqueID("resume"))
        for index in 2...6 { try await api.append(run, "step", #"{"n":\#(index)}"#) }

        let cases: [(query: String, headers: [(String, String)], firstID: Int64)] = [
            ("", [("Last-Event-ID", "3")], 4),
            ("?last_event_id=3", [], 4),
            ("?last_event_id=5", [("Last-Event-ID", "2")], 3),
            ("", [("Last-Event-ID", "0")], 1),
            ("", [("Last-Event-ID", " 4 ")], 5),
        ]
        for (query, headers, firstID) in cases {
            let stream = try api.stream(run, query: query, headers: headers)
            #expect(await stream.wait(timeout: .seconds(20)) { $0.events.last?.id == 6 }, "\(query) \(headers): \(stream.text)")
            #expect(stream.events.first?.id == firstID, "\(query) \(headers)")
            #expect(Self.withoutHeartbeats(stream.text) == Self.expectedBody(stack, run, after: firstID - 1), "\(query) \(headers)")
            stream.close()
        }
        // Resuming beyond the end waits for the next event rather than replaying anything.
        let ahead = try api.stream(run, headers: [("Last-Event-ID", "7")])
        #expect(await ahead.wait(timeout: .seconds(20)) { $0.frames.count == 1 })
        try await api.append(run, "step", #"{"n":7}"#)
        try await api.append(run, "step", #"{"n":8}"#)
        #expect(await ahead.wait(timeout: .seconds(20)) { $0.events.count == 1 }, "\(ahead.text)")
        #expect(ahead.events.map(\.id) == [8])
    }

    @Test("a resume point that is not an event id (<seq> or <seq>.<incarnation>) is a 400 in the error shape",
          arguments: Kind.allCases, ["abc", "-1", "1.", "1.A", "0x10", "18446744073709551616", "1 2"])
    func refusesABadResumePoint(kind: Kind, value: String) async throws {
        let api = try E2EStack.shared().client(kind)
        let run = try await api.createRun(id: e2eUniqueID("badid"))
        let byHeader = try await api.request("GET", "/v1/runs/\(run)/events", headers: [("Last-Event-ID", value)])
        #expect(byHeader.status == 400, "header \(value): \(byHeader.text)")
        #expect(byHeader.errorCode == "invalid_last_event_id")
        e2eExpectErrorShape(byHeader)
        let escaped = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value
        let byQuery = try await api.request("GET", "/v1/runs/\(run)/events?last_event_id=\(escaped)")
        #expect(byQuery.status == 400, "query \(value): \(byQuery.text)")
        #expect(byQuery.errorCode == "invalid_last_event_id")
        e2eExpectErrorShape(byQuery)
    }

    @Test("resuming at or after the terminal event is 204; just before it replays the terminal event and closes",
          arguments: Kind.allCases)
    func answers204AfterTheTerminalEvent(kind: Kind) async throws {
        let api = try E2EStack.shared().client(kind)
        let run = try await api.createRun(id: e2eUniqueID("ended"))
        try await api.append(run, "step")
        let terminal = try await api.append(run, "run.stopped", #"{"reason":"user"}"#)
        for resume in [terminal, terminal + 10] {
            let response = try await api.request("GET", "/v1/runs/\(run)/events", headers: [("Last-Event-ID", String(resume))])
            #expect(response.status == 204, "resume \(resume): \(response.text)")
            #expect(response.body.isEmpty)
        }
        let byQuery = try await api.request("GET", "/v1/runs/\(run)/events?last_event_id=\(terminal)")
        #expect(byQuery.status == 204)

        let before = try await api.request("GET", "/v1/runs/\(run)/events", headers: [("Last-Event-ID", String(terminal - 1))])
        #expect(before.status == 200)
        let incarnation = E2EJournalLine.incarnation(try E2EStack.shared().journalDirectory, run)
        #expect(before.text == "retry: 1000\n\nid: \(terminal).\(incarnation)\nevent: run.stopped\ndata: {\"reason\":\"user\"}\n\n")
        let byEventID = try await api.request("GET", "/v1/runs/\(run)/events", headers: [("Last-Event-ID", "\(terminal).\(incarnation)")])
        #expect(byEventID.status == 204, "the whole id of the terminal event: \(byEventID.text)")
        let whole = try await api.get("/v1/runs/\(run)/events")
        #expect(whole.status == 200)
        #expect(whole.events.map(\.id) == [1, 2, 3])
    }

    @Test("a run deleted and created again under the same id: the old Last-Event-ID replays the new run from seq 1",
          arguments: Kind.allCases)
    func oldLastEventIDOfARecreatedRunReplaysTheNewRun(kind: Kind) async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(kind)
        let run = try await api.createRun(id: e2eUniqueID("again"))
        for n in 2...4 { try await api.append(run, "old.step", #"{"n":\#(n)}"#) }
        let stream = try api.stream(run)
        #expect(await stream.wait(timeout: .seconds(20)) { $0.events.count == 4 }, "\(stream.text)")
        let lastSeen = try #require(stream.events.last?.lastEventID)
        #expect(lastSeen.hasPrefix("4."), "\(lastSeen)")

        // The journal goes (the stream ends), and a run is created again under the same id, a moment later.
        try FileManager.default.removeItem(atPath: "\(stack.journalDirectory)/\(run).jsonl")
        #expect(await stream.waitForEnd(timeout: .seconds(20)), "the stream outlived its journal: \(stream.text)")
        try await Task.sleep(for: .milliseconds(5))  // a different run.created millisecond: a new incarnation
        #expect(try await api.createRun(id: run) == run)
        try await api.append(run, "new.step", #"{"n":2}"#)

        // The client reconnects with the id it saw last, as EventSource does.
        let again = try api.stream(run, headers: [("Last-Event-ID", lastSeen)])
        #expect(await again.wait(timeout: .seconds(20)) { $0.events.count == 2 }, "\(again.text)")
        #expect(again.events.map(\.id) == [1, 2], "the new run's events from seq 1: \(again.text)")
        #expect(again.events.map(\.event) == ["run.created", "new.step"])
        #expect(again.events.first?.incarnation != stream.events.first?.incarnation)
        #expect(Self.withoutHeartbeats(again.text) == Self.expectedBody(stack, run))
        try await api.append(run, "run.completed")
        #expect(await again.waitForEnd(timeout: .seconds(20)), "\(again.text)")
    }

    @Test("a stream on an unknown run is a 404 in the error shape", arguments: Kind.allCases)
    func answers404ForAnUnknownRun(kind: Kind) async throws {
        let api = try E2EStack.shared().client(kind)
        let response = try await api.get("/v1/runs/\(e2eUniqueID("ghost"))/events")
        #expect(response.status == 404)
        #expect(response.errorCode == "run_not_found")
        e2eExpectErrorShape(response)
    }

    @Test("the stream ends when the run's journal is deleted", arguments: Kind.allCases)
    func endsWhenTheJournalIsDeleted(kind: Kind) async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(kind)
        let run = try await api.createRun(id: e2eUniqueID("deleted"))
        try await api.append(run, "step")
        let stream = try api.stream(run)
        #expect(await stream.wait(timeout: .seconds(20)) { $0.events.count == 2 })
        try FileManager.default.removeItem(atPath: "\(stack.journalDirectory)/\(run).jsonl")
        #expect(await stream.waitForEnd(timeout: .seconds(20)), "the stream outlived its journal: \(stream.text)")
        #expect(stream.events.map(\.id) == [1, 2])
        #expect(try await api.get("/v1/runs/\(run)").status == 404)
    }

    @Test("events appended by a separate runjournal append process arrive on the stream", arguments: Kind.allCases)
    func deliversEventsAppendedByTheCLI(kind: Kind) async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(kind)
        let run = try await api.createRun(id: e2eUniqueID("cli"))
        let stream = try api.stream(run)
        #expect(await stream.wait(timeout: .seconds(20)) { $0.events.count == 1 })
        let cli = try await e2eRunCLI(["append", "--journal", stack.journalDirectory, run, "cli.step", #"{"from":"cli","n":1}"#])
        #expect(cli.code == 0, "\(cli.stderr)")
        #expect(cli.stdout == "2\n")
        #expect(await stream.wait(timeout: .seconds(20)) { $0.events.count == 2 }, "\(stream.text)")
        #expect(stream.events.last == SSEFrameRecord(id: 2, event: "cli.step", data: #"{"from":"cli","n":1}"#))
        let ended = try await e2eRunCLI(["append", "--journal", stack.journalDirectory, run, "run.completed"])
        #expect(ended.code == 0, "\(ended.stderr)")
        #expect(await stream.waitForEnd(timeout: .seconds(20)), "\(stream.text)")
        #expect(stream.events.last?.event == "run.completed")
    }
}
