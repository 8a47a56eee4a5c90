import Foundation
import Testing

/// Retries through a real web server: an `Idempotency-Key` makes a retried POST answer the original result
/// and append nothing; `If-Match` appends are decided on the run's last seq, which GET and every append
/// answer as `ETag`.
@Suite("API: retries and conditional appends through nginx and lighttpd")
struct APIRetryTests {
    @Test("a retried append and a retried create with the same Idempotency-Key append nothing and answer the original", arguments: E2EStack.Kind.allCases)
    func idempotentRetries(kind: E2EStack.Kind) async throws {
        let stack = try E2EStack.shared()
        let run = "retry-\(kind)-\(UInt32.random(in: 0...UInt32.max))"
        func post(_ path: String, _ body: String, _ headers: [(String, String)], type: String = "application/json") async throws -> HTTPResult {
            try await HTTPClient.fetch("POST", stack.url(kind, path), headers: [("Content-Type", type)] + headers, body: Array(body.utf8))
        }
        let created = try await post("/v1/runs", #"{"id":"\#(run)"}"#, [("Idempotency-Key", "create \(run)")])
        #expect(created.status == 201)
        let createdAgain = try await post("/v1/runs", #"{"id":"\#(run)"}"#, [("Idempotency-Key", "create \(run)")])
        #expect(createdAgain.status == 201)
        #expect(createdAgain.text == created.text)

        let batch = "{\"type\":\"a\"}\n{\"type\":\"b\"}\n"
        let first = try await post("/v1/runs/\(run)/events", batch, [("Idempotency-Key", "k1")], type: "application/x-ndjson")
        #expect(first.status == 201)
        #expect(first.header("ETag") == "\"3\"")
        for _ in 0..<3 {
            let again = try await post("/v1/runs/\(run)/events", batch, [("Idempotency-Key", "k1")], type: "application/x-ndjson")
            #expect(again.status == 201)
            #expect(again.text == first.text)
        }
        let reused = try await post("/v1/runs/\(run)/events", #"{"type":"c"}"#, [("Idempotency-Key", "k1")])
        #expect(reused.status == 422)
        #expect(reused.errorCode == "idempotency_key_reused")
        let show = try await HTTPClient.fetch(stack.url(kind, "/v1/runs/\(run)"))
        #expect(show.header("ETag") == "\"3\"")
        #expect(E2EJournalLine.read(stack.journalDirectory, run).map(\.type) == ["run.created", "a", "b"])
    }

    @Test("If-Match: the append is made at the expected last seq and refused with 412 and the current last_seq otherwise", arguments: E2EStack.Kind.allCases)
    func conditionalAppends(kind: E2EStack.Kind) async throws {
        let stack = try E2EStack.shared()
        let run = "match-\(kind)-\(UInt32.random(in: 0...UInt32.max))"
        let created = try await HTTPClient.fetch("POST", stack.url(kind, "/v1/runs"), headers: [("Content-Type", "application/json")], body: Array(#"{"id":"\#(run)"}"#.utf8))
        #expect(created.status == 201)
        #expect(created.header("ETag") == "\"1\"")
        let ok = try await HTTPClient.fetch("POST", stack.url(kind, "/v1/runs/\(run)/events"), headers: [("Content-Type", "application/json"), ("If-Match", "\"1\"")], body: Array(#"{"type":"a"}"#.utf8))
        #expect(ok.status == 201)
        let stale = try await HTTPClient.fetch("POST", stack.url(kind, "/v1/runs/\(run)/events"), headers: [("Content-Type", "application/json"), ("If-Match", "\"1\"")], body: Array(#"{"type":"b"}"#.utf8))
        #expect(stale.status == 412)
        #expect(stale.errorCode == "last_seq_mismatch")
        #expect((((stale.json as? [String: Any])?["error"] as? [String: Any])?["last_seq"] as? NSNumber)?.intValue == 2)
        #expect(stale.header("ETag") == "\"2\"")
        #expect(E2EJournalLine.read(stack.journalDirectory, run).map(\.type) == ["run.created", "a"])
    }
}
