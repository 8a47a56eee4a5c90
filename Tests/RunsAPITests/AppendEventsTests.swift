import Foundation
import RunJournal
import Testing

@testable import RunsAPI

/// `POST /v1/runs/:id/events` through `RunsService.handle`: one event as JSON, a batch as NDJSON, and every
/// refusal with the journal left untouched.
@Suite("Runs: append events")
struct AppendEventsTests {
    let api: APIHarness
    let id: RunID

    init() throws {
        api = try APIHarness()
        id = try api.createRun("r1")
    }

    func post(_ body: String, contentType: String? = "application/json", run: String = "r1") -> HTTPResponse {
        api.request(
            "POST", "/v1/runs/\(run)/events", headers: contentType.map { ["content-type": $0] } ?? [:], body: body)
    }

    func seqs(_ response: HTTPResponse) -> [String: Int64]? {
        guard let object = response.jsonObject else { return nil }
        var result: [String: Int64] = [:]
        for (key, value) in object {
            guard let number = value as? NSNumber else { return nil }
            result[key] = number.int64Value
        }
        return result
    }

    @Test("one application/json event is appended: 201 with first_seq and last_seq")
    func appendsOneEvent() throws {
        let response = post(#"{"type":"log.line","data":{"text":"hello","n":[1, 2]}}"#)
        #expect(response.status == 201)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.bodyText == "{\"first_seq\":2,\"last_seq\":2}\n")
        let line = try #require(api.journal(id).last)
        #expect(line.type == "log.line")
        #expect(String(decoding: line.data, as: UTF8.self) == #"{"text":"hello","n":[1,2]}"#)
    }

    @Test("an event without data gets {}")
    func dataDefaultsToEmptyObject() throws {
        #expect(post(#"{"type":"tick"}"#).status == 201)
        #expect(String(decoding: api.journal(id).last?.data ?? [], as: UTF8.self) == "{}")
    }

    @Test("an application/x-ndjson batch is appended as one batch: 201 with its seq range")
    func appendsNDJSONBatch() throws {
        try api.append(id, "run.started")
        let body = """
            {"type":"log","data":{"n":1}}

            {"type":"log","data":{"n":2}}\r
            {"type":"run.completed","data":{"ok":true}}

            """
        let response = post(body, contentType: "application/x-ndjson")
        #expect(response.status == 201)
        #expect(seqs(response) == ["first_seq": 3, "last_seq": 5])
        #expect(api.journalTypes(id) == ["run.created", "run.started", "log", "log", "run.completed"])
    }

    @Test("a batch with one bad line appends nothing, and the 400 names the line")
    func badBatchIsAllOrNothing() throws {
        let before = readBytes(api.journalPath(id))
        let body = "{\"type\":\"log\",\"data\":1}\n{\"type\":\"log\",\"data\":\n{\"type\":\"log\"}\n"
        let message = expectError(post(body, contentType: "application/x-ndjson"), 400, "invalid_json")
        #expect(message.contains("line 2"), "message: \(message)")
        #expect(readBytes(api.journalPath(id)) == before)
    }

    @Test("a batch with a bad type on a later line names that line")
    func badTypeInBatchNamesLine() throws {
        let body = "{\"type\":\"ok\"}\n{\"type\":\"ok\"}\n{\"type\":\"Bad Type\"}\n"
        let message = expectError(post(body, contentType: "application/x-ndjson"), 400, "invalid_json")
        #expect(message.contains("line 3"), "message: \(message)")
        #expect(message.contains("Bad Type"))
        #expect(api.journalTypes(id) == ["run.created"])
    }

    @Test("an empty NDJSON batch is a 400")
    func emptyBatchIs400() throws {
        expectError(post("\n\n", contentType: "application/x-ndjson"), 400, "invalid_batch")
    }

    @Test("events after a terminal event in one batch are refused whole")
    func eventAfterTerminalInBatchIs400() throws {
        let body = "{\"type\":\"run.completed\"}\n{\"type\":\"log\"}\n"
        expectError(post(body, contentType: "application/x-ndjson"), 400, "invalid_batch")
        #expect(api.journalTypes(id) == ["run.created"])
    }

    @Test("appending after a terminal event is a 409")
    func appendAfterTerminalIs409() throws {
        try api.append(id, "run.failed")
        let message = expectError(post(#"{"type":"log"}"#), 409, "run_terminal")
        #expect(message.contains("failed"))
        expectError(post("{\"type\":\"log\"}\n", contentType: "application/x-ndjson"), 409, "run_terminal")
        #expect(api.journalTypes(id) == ["run.created", "run.failed"])
    }

    @Test("run.created and run.stop_requested are reserved: 422", arguments: ["run.created", "run.stop_requested"])
    func reservedTypesAre422(type: String) throws {
        expectError(post(#"{"type":"\#(type)"}"#), 422, "reserved_event_type")
        expectError(post("{\"type\":\"log\"}\n{\"type\":\"\(type)\"}\n", contentType: "application/x-ndjson"), 422, "reserved_event_type")
        #expect(api.journalTypes(id) == ["run.created"])
    }

    @Test("an invalid event type is a 400", arguments: [#""Bad""#, #""9lives""#, #""has space""#, #""""#, "7", "null", #""\#(String(repeating: "a", count: 65))""#])
    func invalidTypeIs400(typeJSON: String) throws {
        let response = post(#"{"type":\#(typeJSON),"data":{}}"#)
        expectError(response, 400, "invalid_event_type")
        #expect(api.journalTypes(id) == ["run.created"])
    }

    @Test("malformed JSON is a 400 saying where", arguments: [#"{"type":"log","data":{"a":}}"#, #"{"type":"log""#, "", "[]", #"{"type":"log","extra":1}"#, #"{"data":{}}"#])
    func malformedJSONIs400(body: String) throws {
        let message = expectError(post(body), 400, "invalid_json")
        #expect(!message.isEmpty)
        #expect(api.journalTypes(id) == ["run.created"])
    }

    @Test("a JSON syntax error's message gives the byte offset")
    func syntaxErrorGivesOffset() throws {
        let message = expectError(post(#"{"type":"log","data":[1,2,}"#), 400, "invalid_json")
        #expect(message.contains("byte"), "message: \(message)")
    }

    @Test("another content type is a 415", arguments: ["text/plain", "application/xml", "multipart/form-data"])
    func otherContentTypeIs415(contentType: String) throws {
        expectError(post(#"{"type":"log"}"#, contentType: contentType), 415, "unsupported_media_type")
        #expect(api.journalTypes(id) == ["run.created"])
    }

    @Test("a missing content type is a 415")
    func missingContentTypeIs415() throws {
        expectError(post(#"{"type":"log"}"#, contentType: nil), 415, "unsupported_media_type")
    }

    @Test("appending to an unknown run is a 404, to an invalid id a 400")
    func unknownRunIs404() throws {
        expectError(post(#"{"type":"log"}"#, run: "missing"), 404, "run_not_found")
        expectError(post(#"{"type":"log"}"#, run: "no.dots"), 400, "invalid_run_id")
        #expect(!FileManager.default.fileExists(atPath: api.directory.file("missing.jsonl")))
    }

    @Test("appended events are visible to GET /v1/runs/:id at once")
    func appendUpdatesSummary() throws {
        #expect(post(#"{"type":"run.started"}"#).status == 201)
        #expect(api.request("GET", "/v1/runs/r1").jsonObject?["status"] as? String == "running")
        #expect(post(#"{"type":"run.completed"}"#).status == 201)
        let run = api.request("GET", "/v1/runs/r1").jsonObject
        #expect(run?["status"] as? String == "completed")
        #expect((run?["last_seq"] as? NSNumber)?.int64Value == 3)
    }
}
