import Foundation
import RunJournal
import Testing

@testable import RunsAPI

/// `POST /v1/runs`, `GET /v1/runs/:id` and `POST /v1/runs/:id/stop` through `RunsService.handle`.
@Suite("Runs: create, show, stop")
struct RunsOperationsTests {
    static let runKeys = ["id", "status", "stop_requested", "created_at", "updated_at", "last_seq", "metadata"]

    /// The keys of the top-level object in the order they appear in the body (JSONSerialization loses order).
    static func keyOrder(_ text: String) -> [String] {
        runKeys.filter { text.contains("\"\($0)\":") }
            .sorted { text.range(of: "\"\($0)\":")!.lowerBound < text.range(of: "\"\($1)\":")!.lowerBound }
    }

    // MARK: Create

    @Test("POST /v1/runs without a body creates a queued run with a generated id")
    func createWithoutBody() throws {
        let api = try APIHarness()
        let response = api.request("POST", "/v1/runs")
        #expect(response.status == 201)
        #expect(response.header("Content-Type") == "application/json")
        let run = try #require(response.jsonObject)
        #expect(Set(run.keys) == Set(Self.runKeys))
        #expect(Self.keyOrder(response.bodyText) == Self.runKeys)
        let id = try #require(run["id"] as? String)
        #expect(id.hasPrefix("run_") && RunID.isValid(id))
        #expect(run["status"] as? String == "queued")
        #expect(run["stop_requested"] as? Bool == false)
        #expect(run["created_at"] as? String == Timestamp.format(millis: api.t0))
        #expect(run["updated_at"] as? String == Timestamp.format(millis: api.t0))
        #expect((run["last_seq"] as? NSNumber)?.int64Value == 1)
        #expect((run["metadata"] as? [String: Any])?.isEmpty == true)
        #expect(response.header("Location") == "/v1/runs/\(id)")
        #expect(api.store.exists(try RunID(id)))
    }

    @Test("POST /v1/runs with an id and metadata creates that run with that metadata")
    func createWithIDAndMetadata() throws {
        let api = try APIHarness()
        let response = api.request(
            "POST", "/v1/runs", headers: ["content-type": "application/json; charset=utf-8"],
            body: #"{ "id": "build-42", "metadata": { "repo": "x/y", "attempt": 2, "tags": ["ci"] } }"#)
        #expect(response.status == 201)
        #expect(response.bodyText == #"{"id":"build-42","status":"queued","stop_requested":false,"created_at":"\#(Timestamp.format(millis: api.t0))","updated_at":"\#(Timestamp.format(millis: api.t0))","last_seq":1,"metadata":{"repo":"x/y","attempt":2,"tags":["ci"]}}"# + "\n")
        #expect(api.journalTypes(try RunID("build-42")) == ["run.created"])
    }

    @Test("POST /v1/runs with only whitespace as the body is the same as no body")
    func createWithWhitespaceBody() throws {
        let api = try APIHarness()
        let response = api.request("POST", "/v1/runs", body: " \n\t ")
        #expect(response.status == 201)
    }

    @Test("POST /v1/runs with an existing id is a 409")
    func createExistingIs409() throws {
        let api = try APIHarness()
        try api.createRun("taken")
        let before = readBytes(api.journalPath(try RunID("taken")))
        let response = api.request("POST", "/v1/runs", headers: ["content-type": "application/json"], body: #"{"id":"taken"}"#)
        expectError(response, 409, "run_exists")
        #expect(readBytes(api.journalPath(try RunID("taken"))) == before)
    }

    @Test("POST /v1/runs with an invalid id is a 400", arguments: [#""../etc/passwd""#, #""a/b""#, #"".hidden""#, #""""#, "42", "null", #""has space""#])
    func createInvalidIDIs400(idJSON: String) throws {
        let api = try APIHarness()
        let response = api.request("POST", "/v1/runs", headers: ["content-type": "application/json"], body: #"{"id":\#(idJSON)}"#)
        expectError(response, 400, "invalid_run_id")
        #expect(try FileManager.default.contentsOfDirectory(atPath: api.directory.path).filter { $0.hasSuffix(".jsonl") }.isEmpty)
    }

    @Test("POST /v1/runs with metadata that is not an object is a 400", arguments: ["[1,2]", #""text""#, "3", "null", "true"])
    func createNonObjectMetadataIs400(metadata: String) throws {
        let api = try APIHarness()
        let response = api.request("POST", "/v1/runs", headers: ["content-type": "application/json"], body: #"{"metadata":\#(metadata)}"#)
        let message = expectError(response, 400, "invalid_json")
        #expect(message.contains("metadata"))
    }

    @Test("POST /v1/runs with an unknown key is a 400 naming it")
    func createUnknownKeyIs400() throws {
        let api = try APIHarness()
        let response = api.request("POST", "/v1/runs", headers: ["content-type": "application/json"], body: #"{"id":"ok","status":"running"}"#)
        let message = expectError(response, 400, "invalid_json")
        #expect(message.contains("status"))
        #expect(!api.store.exists(try RunID("ok")))
    }

    @Test("POST /v1/runs with malformed JSON or a non-object body is a 400")
    func createMalformedIs400() throws {
        let api = try APIHarness()
        for body in [#"{"id":"#, "[]", #"{"id":"a",}"#, "nonsense"] {
            expectError(api.request("POST", "/v1/runs", headers: ["content-type": "application/json"], body: body), 400, "invalid_json")
        }
    }

    @Test("POST /v1/runs with a body that is not application/json is a 415")
    func createWrongContentTypeIs415() throws {
        let api = try APIHarness()
        for contentType in ["text/plain", "application/x-www-form-urlencoded", "application/x-ndjson"] {
            let response = api.request("POST", "/v1/runs", headers: ["content-type": contentType], body: #"{"id":"x"}"#)
            expectError(response, 415, "unsupported_media_type")
        }
        expectError(api.request("POST", "/v1/runs", body: #"{"id":"x"}"#), 415, "unsupported_media_type")
        #expect(!api.store.exists(try RunID("x")))
    }

    // MARK: Show

    @Test("GET /v1/runs/:id answers the run's current state")
    func showRun() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1", metadata: #"{"k":"v"}"#)
        api.clock.advance(to: api.at(5))
        try api.append(id, "run.started")
        try api.append(id, "step")
        let response = api.request("GET", "/v1/runs/r1")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/json")
        #expect(Self.keyOrder(response.bodyText) == Self.runKeys)
        let run = try #require(response.jsonObject)
        #expect(run["id"] as? String == "r1")
        #expect(run["status"] as? String == "running")
        #expect(run["stop_requested"] as? Bool == false)
        #expect(run["created_at"] as? String == Timestamp.format(millis: api.t0))
        #expect(run["updated_at"] as? String == Timestamp.format(millis: api.at(5)))
        #expect((run["last_seq"] as? NSNumber)?.int64Value == 3)
        #expect((run["metadata"] as? [String: String]) == ["k": "v"])
    }

    @Test("GET /v1/runs/:id of an unknown run is a 404, of an invalid id a 400")
    func showUnknownIs404() throws {
        let api = try APIHarness()
        expectError(api.request("GET", "/v1/runs/missing"), 404, "run_not_found")
        expectError(api.request("GET", "/v1/runs/.hidden"), 400, "invalid_run_id")
    }

    // MARK: Stop

    @Test("POST /v1/runs/:id/stop answers 202 with stop_requested true and the status unchanged")
    func stopAnswers202() throws {
        let api = try APIHarness()
        try api.createRun("queued")
        let queued = api.request("POST", "/v1/runs/queued/stop")
        #expect(queued.status == 202)
        #expect(queued.jsonObject?["stop_requested"] as? Bool == true)
        #expect(queued.jsonObject?["status"] as? String == "queued")
        #expect(Self.keyOrder(queued.bodyText) == Self.runKeys)

        let running = try api.createRun("running")
        try api.append(running, "run.started")
        let response = api.request("POST", "/v1/runs/running/stop")
        #expect(response.status == 202)
        #expect(response.jsonObject?["stop_requested"] as? Bool == true)
        #expect(response.jsonObject?["status"] as? String == "running")
        #expect(api.journalTypes(running) == ["run.created", "run.started", "run.stop_requested"])
    }

    @Test("stop is idempotent: repeated requests leave one run.stop_requested line")
    func stopIsIdempotent() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        for _ in 0..<3 {
            let response = api.request("POST", "/v1/runs/r1/stop")
            #expect(response.status == 202)
            #expect(response.jsonObject?["stop_requested"] as? Bool == true)
            api.clock.advance(by: 1000)
        }
        #expect(api.journalTypes(id) == ["run.created", "run.stop_requested"])
        #expect(api.journal(id)[safe: 1]?.ts == Timestamp.format(millis: api.t0), "the first request's time is kept")
    }

    @Test("stopping an ended run is a 409 naming its status", arguments: [("run.completed", "completed"), ("run.failed", "failed"), ("run.stopped", "stopped")])
    func stopTerminalIs409(type: String, status: String) throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, type)
        let message = expectError(api.request("POST", "/v1/runs/r1/stop"), 409, "run_terminal")
        #expect(message.contains(status))
        #expect(api.journalTypes(id) == ["run.created", type])
    }

    @Test("stopping an unknown run is a 404, an invalid id a 400")
    func stopUnknownIs404() throws {
        let api = try APIHarness()
        expectError(api.request("POST", "/v1/runs/missing/stop"), 404, "run_not_found")
        expectError(api.request("POST", "/v1/runs/bad!id/stop"), 400, "invalid_run_id")
    }
}
