import RunJournal
import Testing

@testable import RunsAPI

/// `GET /v1/runs/:id/events?format=lines`: every event as an unnamed message whose data is the whole journal
/// line (what a browser's `EventSource.onmessage` receives, `ts` included), with the default format's ids,
/// resume points and end, and the default format unchanged.
@Suite("Events stream: format=lines")
struct LinesFormatTests {
    /// A run with a batch (its lines carry `"more":true`), ended, so a stream runs to its end at once.
    @discardableResult
    private func endedRun(_ api: APIHarness) throws -> RunID {
        let id = try api.createRun("r1", metadata: #"{"job":"x"}"#)
        try api.append(id, "step", #"{"n":1,"text":"a \"quoted\" line"}"#)
        try api.append(id, batch: [("stdout", #"{"line":"one"}"#), ("stdout", #"{"line":"two"}"#), ("custom.kind", "[1,2]")])
        try api.append(id, "run.completed", #"{"exit_code":0}"#)
        return id
    }

    private func stream(_ api: APIHarness, format: String?, lastEventID: String? = nil) -> (HTTPResponse, String) {
        var query: [(String, String)] = []
        if let format { query.append(("format", format)) }
        if let lastEventID { query.append(("last_event_id", lastEventID)) }
        let response = api.request("GET", "/v1/runs/r1/events", query: query)
        guard response.status == 200, case .stream(let body) = response.body else { return (response, "") }
        let writer = api.writer()
        do { try body(writer) } catch { Issue.record("the stream threw \(error)") }
        return (response, writer.text)
    }

    @Test("both formats frame the same journal: named events by default, whole journal lines with format=lines")
    func framesOfBothFormats() throws {
        let api = try APIHarness()
        let id = try endedRun(api)
        let lines = journalLineBytes(api.journalPath(id)).map { String(decoding: $0, as: UTF8.self) }
        let fields = api.journal(id)
        #expect(lines.count == 6)
        #expect(lines.contains { $0.contains(#""more":true"#) }, "the batch's lines are part of the check")
        let incarnation = "mywpiww0"

        var expectedEvents = "retry: \(api.context.configuration.retryMillis)\n\n"
        var expectedLines = expectedEvents
        for (line, field) in zip(lines, fields) {
            expectedEvents += "id: \(field.seq).\(incarnation)\nevent: \(field.type)\ndata: \(String(decoding: field.data, as: UTF8.self))\n\n"
            expectedLines += "id: \(field.seq).\(incarnation)\ndata: \(line)\n\n"
        }
        let (defaultResponse, defaultText) = stream(api, format: nil)
        #expect(defaultResponse.status == 200)
        #expect(defaultText == expectedEvents)
        #expect(stream(api, format: "events").1 == expectedEvents)

        let (linesResponse, linesText) = stream(api, format: "lines")
        #expect(linesResponse.status == 200)
        #expect(linesResponse.header("Content-Type") == "text/event-stream")
        #expect(linesText == expectedLines)
        #expect(!linesText.contains("event:"), "unnamed messages only: EventSource.onmessage gets every one")
    }

    @Test("format=lines resumes after the last event id like the default, and answers 204 after the end")
    func linesResume() throws {
        let api = try APIHarness()
        let id = try endedRun(api)
        let lines = journalLineBytes(api.journalPath(id)).map { String(decoding: $0, as: UTF8.self) }
        let text = stream(api, format: "lines", lastEventID: "4.mywpiww0").1
        #expect(text == "retry: \(api.context.configuration.retryMillis)\n\n"
            + "id: 5.mywpiww0\ndata: \(lines[4])\n\nid: 6.mywpiww0\ndata: \(lines[5])\n\n")
        #expect(stream(api, format: "lines", lastEventID: "6.mywpiww0").0.status == 204)
    }

    @Test("an unknown format is a 400 invalid_format before any stream header")
    func unknownFormat() throws {
        let api = try APIHarness()
        try endedRun(api)
        for format in ["", "LINES", "json", "lines,events"] {
            expectError(stream(api, format: format).0, 400, "invalid_format")
        }
    }
}
