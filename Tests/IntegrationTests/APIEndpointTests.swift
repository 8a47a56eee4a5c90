import Foundation
import RunJournal
import Testing

/// The runs API end to end: real `runjournal serve` behind the shipped nginx and lighttpd configs, every
/// endpoint's statuses and JSON shapes as a client sees them. Tests that only create their own runs share
/// one stack (`E2EStack.shared()`); anything that lists the whole directory starts its own.
@Suite("API endpoints through nginx and lighttpd")
struct APIEndpointTests {
    typealias Kind = WebServerFixture.Kind

    static let runKeys: Set<String> = ["id", "status", "stop_requested", "created_at", "updated_at", "last_seq", "metadata"]

    // MARK: create and show

    @Test("POST /v1/runs without a body creates a queued run with the documented shape", arguments: Kind.allCases)
    func createsAQueuedRunWithoutABody(kind: Kind) async throws {
        let stack = try E2EStack.shared()
        let response = try await stack.client(kind).post("/v1/runs")
        #expect(response.status == 201)
        #expect(response.header("Content-Type") == "application/json")
        let run = try #require(response.json as? [String: Any], "\(response.text)")
        #expect(Set(run.keys) == Self.runKeys)
        let id = try #require(run["id"] as? String)
        #expect(RunID.isValid(id))
        #expect(run["status"] as? String == "queued")
        #expect(run["stop_requested"] as? Bool == false)
        #expect(run["last_seq"] as? Int == 1)
        #expect((run["metadata"] as? [String: Any])?.isEmpty == true)
        let created = try #require(run["created_at"] as? String)
        #expect(created.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "created_at \(created)")
        #expect(run["updated_at"] as? String == created)
        #expect(response.header("Location") == "/v1/runs/\(id)")
        let lines = E2EJournalLine.read(stack.journalDirectory, id)
        #expect(lines.map(\.type) == ["run.created"])
    }

    @Test("POST /v1/runs with an id and metadata keeps both; the same id again is 409", arguments: Kind.allCases)
    func createsARunWithItsIdAndMetadataAndRefusesADuplicate(kind: Kind) async throws {
        let api = try E2EStack.shared().client(kind)
        let id = e2eUniqueID("meta")
        let response = try await api.post("/v1/runs", json: #"{"id":"\#(id)","metadata":{"repo":"x","n":[1,2]}}"#)
        #expect(response.status == 201)
        let run = try #require(response.json as? [String: Any], "\(response.text)")
        #expect(run["id"] as? String == id)
        // The stored metadata is compact JSON, sent back verbatim.
        #expect(response.text.contains(#""metadata":{"repo":"x","n":[1,2]}"#), "\(response.text)")

        let again = try await api.post("/v1/runs", json: #"{"id":"\#(id)"}"#)
        #expect(again.status == 409)
        #expect(again.errorCode == "run_exists")
        e2eExpectErrorShape(again)
    }

    @Test("POST /v1/runs with an invalid id is 400 and creates nothing",
          arguments: Kind.allCases, [#"{"id":"../x"}"#, #"{"id":".hidden"}"#, #"{"id":"a/b"}"#, #"{"id":""}"#, #"{"id":7}"#,
                                     #"{"id":"\#(String(repeating: "a", count: 65))"}"#])
    func refusesAnInvalidRunID(kind: Kind, body: String) async throws {
        let stack = try E2EStack.shared()
        let response = try await stack.client(kind).post("/v1/runs", json: body)
        #expect(response.status == 400, "\(response.text)")
        #expect(response.errorCode == "invalid_run_id")
        e2eExpectErrorShape(response)
        // What a traversal would have written (the hostile-input tests check every byte of a directory).
        for path in ["\(stack.journalDirectory)/.hidden.jsonl", "\(stack.directory.path)/x.jsonl", "\(stack.journalDirectory)/a/b.jsonl"] {
            #expect(!FileManager.default.fileExists(atPath: path), "\(path)")
        }
    }

    @Test("POST /v1/runs refuses a body that is not a JSON object or has unknown keys", arguments: Kind.allCases)
    func refusesMalformedCreateBodies(kind: Kind) async throws {
        let api = try E2EStack.shared().client(kind)
        for body in ["[]", #"{"id":"x","colour":"red"}"#, #"{"metadata":[1]}"#, "{", "nul"] {
            let response = try await api.post("/v1/runs", json: body)
            #expect(response.status == 400, "\(body): \(response.text)")
            e2eExpectErrorShape(response)
        }
        let wrongType = try await api.post("/v1/runs", json: "{}", contentType: "text/plain")
        #expect(wrongType.status == 415)
        #expect(wrongType.errorCode == "unsupported_media_type")
    }

    @Test("GET /v1/runs/:id shows the run in the same shape as create; an unknown run is 404", arguments: Kind.allCases)
    func showsARunAndAnswers404ForAnUnknownOne(kind: Kind) async throws {
        let api = try E2EStack.shared().client(kind)
        let id = try await api.createRun(id: e2eUniqueID("show"), metadata: #"{"k":"v"}"#)
        try await api.append(id, "run.started")
        let response = try await api.get("/v1/runs/\(id)")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/json")
        let run = try #require(response.json as? [String: Any])
        #expect(Set(run.keys) == Self.runKeys)
        #expect(run["id"] as? String == id)
        #expect(run["status"] as? String == "running")
        #expect(run["last_seq"] as? Int == 2)
        #expect((run["metadata"] as? [String: String]) == ["k": "v"])

        let missing = try await api.get("/v1/runs/\(e2eUniqueID("nobody"))")
        #expect(missing.status == 404)
        #expect(missing.errorCode == "run_not_found")
        e2eExpectErrorShape(missing)
    }

    // MARK: list

    @Test("GET /v1/runs lists newest first with a status filter, limit bounds and a default page of 100", arguments: Kind.allCases)
    func listsNewestFirstFilteredAndLimited(kind: Kind) async throws {
        let stack = try E2EStack(["--sweep-interval", "3600", "--fsync", "never"], kinds: [kind])
        let api = stack.client(kind)
        // Ids sort in creation order here, like generated ids do: newest first is descending.
        for index in 1...105 { try await api.createRun(id: String(format: "r%03d", index)) }
        try await api.append("r002", "run.started")
        try await api.append("r003", "run.started")
        try await api.append("r003", "run.completed")
        try await api.append("r105", "step")

        let firstPage = try await api.get("/v1/runs")
        #expect(firstPage.status == 200)
        let body = try #require(firstPage.json as? [String: Any])
        #expect(Set(body.keys) == ["runs", "next_cursor"])
        let runs = try #require(body["runs"] as? [[String: Any]])
        #expect(runs.count == 100)
        #expect(runs.compactMap { $0["id"] as? String } == (6...105).reversed().map { String(format: "r%03d", $0) })
        #expect(runs.allSatisfy { Set($0.keys) == Self.runKeys })
        #expect(body["next_cursor"] as? String == "r006")

        let running = try #require(try await api.get("/v1/runs?status=running").json as? [String: Any])
        #expect((running["runs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["r105", "r002"])
        #expect(running["next_cursor"] is NSNull)
        let completed = try #require(try await api.get("/v1/runs?status=completed").json as? [String: Any])
        #expect((completed["runs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["r003"])

        let all = try #require(try await api.get("/v1/runs?limit=1000").json as? [String: Any])
        #expect((all["runs"] as? [Any])?.count == 105)
        #expect(all["next_cursor"] is NSNull)

        for query in ["limit=1001", "limit=0", "limit=-1", "limit=ten", "status=sleeping", "cursor=..%2Fx"] {
            let refused = try await api.get("/v1/runs?\(query)")
            #expect(refused.status == 400, "\(query): \(refused.text)")
            e2eExpectErrorShape(refused)
        }
    }

    @Test("GET /v1/runs pages with a stable cursor while new runs are created", arguments: Kind.allCases)
    func pagesWithAStableCursor(kind: Kind) async throws {
        let stack = try E2EStack(["--sweep-interval", "3600", "--fsync", "never"], kinds: [kind])
        let api = stack.client(kind)
        for index in 1...10 { try await api.createRun(id: String(format: "p%02d", index)) }
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let response = try await api.get("/v1/runs?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(response.status == 200, "\(response.text)")
            let page = try #require(response.json as? [String: Any])
            seen += (page["runs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            cursor = page["next_cursor"] as? String
            pages += 1
            // Newer runs appear at the head of the listing, never inside the pages still to come.
            try await api.createRun(id: String(format: "p%02d", 10 + pages))
        } while cursor != nil && pages < 10
        #expect(seen == (1...10).reversed().map { String(format: "p%02d", $0) })
        #expect(pages == 4)
    }

    // MARK: append

    @Test("POST /v1/runs/:id/events appends one JSON event or an NDJSON batch and answers the seqs", arguments: Kind.allCases)
    func appendsSingleEventsAndBatches(kind: Kind) async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(kind)
        let id = try await api.createRun(id: e2eUniqueID("append"))
        let single = try await api.post("/v1/runs/\(id)/events", json: #"{"type":"tool.started","data":{"name":"search"}}"#)
        #expect(single.status == 201)
        #expect(single.header("Content-Type") == "application/json")
        #expect(single.text == #"{"first_seq":2,"last_seq":2}"# + "\n")

        let batch = try await api.post(
            "/v1/runs/\(id)/events", json: "{\"type\":\"a\",\"data\":1}\n\n{\"type\":\"b\"}\r\n{\"type\":\"c\",\"data\":[true]}\n",
            contentType: "application/x-ndjson")
        #expect(batch.status == 201, "\(batch.text)")
        #expect(batch.text == #"{"first_seq":3,"last_seq":5}"# + "\n")

        let lines = E2EJournalLine.read(stack.journalDirectory, id)
        #expect(lines.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(lines.dropFirst().map(\.type) == ["tool.started", "a", "b", "c"])
        #expect(lines.dropFirst().map(\.data) == [#"{"name":"search"}"#, "1", "{}", "[true]"])
    }

    @Test("an NDJSON batch with one bad line appends nothing and the 400 names the line", arguments: Kind.allCases)
    func refusesABadBatchAsAWhole(kind: Kind) async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(kind)
        let id = try await api.createRun(id: e2eUniqueID("batch"))
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(stack.journalDirectory)/\(id).jsonl"))
        let response = try await api.post(
            "/v1/runs/\(id)/events", json: "{\"type\":\"ok\"}\n{\"type\":\"ok\",\"data\":{\"x\":}}\n{\"type\":\"ok\"}",
            contentType: "application/x-ndjson")
        #expect(response.status == 400)
        #expect(response.errorCode == "invalid_json")
        let message = try #require(e2eErrorMessage(response))
        #expect(message.contains("line 2"), "\(message)")
        let after = try Data(contentsOf: URL(fileURLWithPath: "\(stack.journalDirectory)/\(id).jsonl"))
        #expect(before == after)
    }

    @Test("bad event types and malformed JSON are 400 with a message saying where", arguments: Kind.allCases)
    func refusesBadTypesAndJSONSayingWhere(kind: Kind) async throws {
        let api = try E2EStack.shared().client(kind)
        let id = try await api.createRun(id: e2eUniqueID("bad"))
        let cases: [(body: String, code: String, mentions: String)] = [
            (#"{"type":"Tool.Started","data":{}}"#, "invalid_event_type", "Tool.Started"),
            (#"{"type":"","data":{}}"#, "invalid_event_type", "invalid event type"),
            (#"{"type":7}"#, "invalid_event_type", "7"),
            (#"{"data":{}}"#, "invalid_json", "type"),
            (#"{"type":"x","data":{"a":1,}}"#, "invalid_json", "byte"),
            (#"{"type":"x","data":{}} trailing"#, "invalid_json", "byte"),
            (#"{"type":"x","extra":1}"#, "invalid_json", "extra"),
            ("", "invalid_json", "byte"),
        ]
        for (body, code, mentions) in cases {
            let response = try await api.post("/v1/runs/\(id)/events", json: body)
            #expect(response.status == 400, "\(body): \(response.text)")
            #expect(response.errorCode == code, "\(body): \(response.text)")
            #expect(e2eErrorMessage(response)?.contains(mentions) == true, "\(body): \(response.text)")
        }
        #expect(try await api.show(id)["last_seq"] as? Int == 1)
    }

    @Test("appending refuses reserved types (422), other content types (415), unknown runs (404) and ended runs (409)",
          arguments: Kind.allCases)
    func refusesReservedTypesContentTypesUnknownAndEndedRuns(kind: Kind) async throws {
        let api = try E2EStack.shared().client(kind)
        let id = try await api.createRun(id: e2eUniqueID("refuse"))
        for type in ["run.created", "run.stop_requested"] {
            let response = try await api.post("/v1/runs/\(id)/events", json: #"{"type":"\#(type)","data":{}}"#)
            #expect(response.status == 422, "\(type): \(response.text)")
            #expect(response.errorCode == "reserved_event_type")
        }
        for contentType in ["text/plain", "application/xml", "application/x-www-form-urlencoded"] {
            let response = try await api.post("/v1/runs/\(id)/events", json: #"{"type":"x"}"#, contentType: contentType)
            #expect(response.status == 415, "\(contentType)")
            #expect(response.errorCode == "unsupported_media_type")
        }
        let noContentType = try await api.request("POST", "/v1/runs/\(id)/events", body: Array(#"{"type":"x"}"#.utf8))
        #expect(noContentType.status == 415)
        let unknown = try await api.post("/v1/runs/\(e2eUniqueID("ghost"))/events", json: #"{"type":"x"}"#)
        #expect(unknown.status == 404)
        #expect(unknown.errorCode == "run_not_found")

        try await api.append(id, "run.completed")
        let afterEnd = try await api.post("/v1/runs/\(id)/events", json: #"{"type":"late"}"#)
        #expect(afterEnd.status == 409)
        #expect(afterEnd.errorCode == "run_terminal")
        e2eExpectErrorShape(afterEnd)
        #expect(try await api.show(id)["last_seq"] as? Int == 2)
    }

    // MARK: stop

    @Test("POST /v1/runs/:id/stop is 202 with stop_requested, appends run.stop_requested once, and 409 once ended",
          arguments: Kind.allCases)
    func stopIsIdempotentAndRefusedAfterTheEnd(kind: Kind) async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(kind)
        let id = try await api.createRun(id: e2eUniqueID("stop"))
        try await api.append(id, "run.started")
        let first = try await api.post("/v1/runs/\(id)/stop")
        #expect(first.status == 202, "\(first.text)")
        let run = try #require(first.json as? [String: Any])
        #expect(Set(run.keys) == Self.runKeys)
        #expect(run["stop_requested"] as? Bool == true)
        #expect(run["status"] as? String == "running")
        let second = try await api.post("/v1/runs/\(id)/stop")
        #expect(second.status == 202)
        #expect((second.json as? [String: Any])?["stop_requested"] as? Bool == true)
        let types = E2EJournalLine.read(stack.journalDirectory, id).map(\.type)
        #expect(types == ["run.created", "run.started", "run.stop_requested"])

        try await api.append(id, "run.stopped")
        let ended = try await api.post("/v1/runs/\(id)/stop")
        #expect(ended.status == 409)
        #expect(ended.errorCode == "run_terminal")
        let unknown = try await api.post("/v1/runs/\(e2eUniqueID("ghost"))/stop")
        #expect(unknown.status == 404)
    }

    // MARK: routing

    @Test("an unknown route is 404 and a wrong method is 405 with Allow, both in the error shape", arguments: Kind.allCases)
    func answersUnknownRoutesAndWrongMethods(kind: Kind) async throws {
        let api = try E2EStack.shared().client(kind)
        // (`/` is the viewer's page, served by the web server: ViewerRoutesTests.)
        for target in ["/v2/runs", "/v1/run", "/v1/runs/x/events/more", "/v1/runs/x/logs", "/runs/x/y"] {
            let response = try await api.get(target)
            #expect(response.status == 404, "\(target)")
            #expect(response.errorCode == "not_found", "\(target): \(response.text)")
            e2eExpectErrorShape(response)
        }
        let cases: [(method: String, target: String, allow: String)] = [
            ("DELETE", "/v1/runs/x", "GET"), ("PUT", "/v1/runs", "GET, POST"), ("GET", "/v1/runs/x/stop", "POST"),
            ("PATCH", "/v1/runs/x/events", "GET, POST"), ("POST", "/v1/runs/x", "GET"),
        ]
        for (method, target, allow) in cases {
            let response = try await api.request(method, target)
            #expect(response.status == 405, "\(method) \(target)")
            #expect(response.header("Allow") == allow, "\(method) \(target)")
            #expect(response.errorCode == "method_not_allowed")
            e2eExpectErrorShape(response)
        }
    }
}

// MARK: - helpers shared by the end-to-end tests

/// A run id no other test uses (the shared stacks' journals are shared by every test).
func e2eUniqueID(_ prefix: String) -> String {
    prefix + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
}

/// `error.message` of the API's error shape.
func e2eErrorMessage(_ response: E2EConnection) -> String? {
    ((response.json as? [String: Any])?["error"] as? [String: Any])?["message"] as? String
}

/// The body is exactly `{"error":{"code":"…","message":"…"}}` (JSON, both strings non-empty) and the response
/// says it is JSON.
func e2eExpectErrorShape(_ response: E2EConnection, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(response.header("Content-Type") == "application/json", "Content-Type of \(response.text)", sourceLocation: sourceLocation)
    guard let object = response.json as? [String: Any], Set(object.keys) == ["error"],
        let error = object["error"] as? [String: Any], Set(error.keys) == ["code", "message"],
        let code = error["code"] as? String, let message = error["message"] as? String, !code.isEmpty, !message.isEmpty
    else {
        Issue.record("not the API error shape: \(response.status.map(String.init) ?? "no status") \(response.text)", sourceLocation: sourceLocation)
        return
    }
}
