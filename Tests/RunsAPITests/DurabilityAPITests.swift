import Foundation
import Synchronization
import Testing

@testable import RunJournal
@testable import RunsAPI
import SystemSupport

/// The HTTP face of durability: failed journals answer 507/503 `journal_failed`, retries with an
/// `Idempotency-Key` are answered and never appended twice, `If-Match` appends are decided on the run's last
/// seq, and a stream never sends what a failing sync could not make durable.
@Suite("API: failed journals, idempotency keys, conditional appends")
struct DurabilityAPITests {
    let directory = TemporaryDirectory("durability")

    /// A service over a store whose disk fails as `faults` says (fsync=always).
    private func service(faults: StoreFaults) throws -> (RunsService, JournalStore, TemporaryDirectory) {
        let clock = VirtualClock(VirtualClock.defaultStart)
        let store = try JournalStore(directory: directory.path, fsyncPolicy: .always, clock: clock, logger: .quietForTests, faults: faults)
        let context = RunsContext(
            store: store, configuration: RunsAPIConfiguration(startedAtMillis: VirtualClock.defaultStart),
            follower: DirectFollower(onFollow: nil), clock: clock,
            sleeper: VirtualSleeper(clock: clock, shutdown: ShutdownSignal(), limitMillis: VirtualClock.defaultStart + 3_600_000),
            logger: .quietForTests)
        return (RunsService(context: context), store, directory)
    }

    private func post(_ service: RunsService, _ path: String, _ body: String, headers: [String: String] = [:]) -> HTTPResponse {
        service.handle(HTTPRequest(
            method: "POST", path: path, query: [], headers: ["content-type": "application/json"].merging(headers) { $1 },
            body: Array(body.utf8)))
    }

    @Test("a failed sync answers 503 journal_failed (507 for ENOSPC), a write failing with EIO 503, and later appends the same")
    func failedJournalStatuses() throws {
        let failing = LockedValue<(StoreFaults.Operation, Int32)?>(nil)
        let (service, _, _) = try service(faults: StoreFaults { operation, path in
            guard path.hasSuffix(".jsonl"), let (which, code) = failing.withLock({ $0 }), which == operation else { return nil }
            return .fail(errno: code)
        })
        for (run, operation, code, status) in [("a", StoreFaults.Operation.fdatasync, EIO, 503), ("b", .fdatasync, ENOSPC, 507), ("c", .write, EIO, 503)] {
            failing.withLock { $0 = nil }
            let created = post(service, "/v1/runs", #"{"id":"\#(run)"}"#)
            #expect(created.status == 201, "\(created.bodyText)")
            failing.withLock { $0 = (operation, code) }
            let message = expectError(post(service, "/v1/runs/\(run)/events", #"{"type":"x"}"#), status, "journal_failed")
            #expect(message.contains("verify --repair"))
            failing.withLock { $0 = nil }
            expectError(post(service, "/v1/runs/\(run)/events", #"{"type":"x"}"#), status, "journal_failed")
        }
    }

    @Test("a full disk caught by the reservation is 507 insufficient_storage and the run appends again afterwards")
    func fullDiskReservation() throws {
        let full = Atomic<Bool>(false)
        let (service, _, _) = try service(faults: StoreFaults { operation, _ in
            operation == .fallocate && full.load(ordering: .relaxed) ? .fail(errno: ENOSPC) : nil
        })
        #expect(post(service, "/v1/runs", #"{"id":"r"}"#).status == 201)
        full.store(true, ordering: .relaxed)
        expectError(post(service, "/v1/runs/r/events", #"{"type":"x"}"#), 507, "insufficient_storage")
        full.store(false, ordering: .relaxed)
        #expect(post(service, "/v1/runs/r/events", #"{"type":"x"}"#).status == 201)
    }

    @Test("Idempotency-Key: a retried append answers the original 201 and body; another body is 422; a bad key 400")
    func idempotentAppend() throws {
        let api = try APIHarness()
        _ = try api.createRun("r")
        func append(_ body: String, key: String?, type: String = "application/x-ndjson") -> HTTPResponse {
            api.request("POST", "/v1/runs/r/events", headers: ["content-type": type].merging(key.map { ["idempotency-key": $0] } ?? [:]) { $1 }, body: body)
        }
        let batch = "{\"type\":\"a\"}\n{\"type\":\"b\"}\n"
        let first = append(batch, key: "job-7 attempt")
        #expect(first.status == 201)
        #expect(first.header("ETag") == "\"3\"")
        #expect(first.header("Idempotent-Replayed") == nil)
        _ = try api.append(try RunID("r"), "between")
        let retry = append(batch, key: "job-7 attempt")
        #expect(retry.status == 201)
        #expect(retry.bodyText == first.bodyText)
        #expect(retry.header("ETag") == "\"3\"")
        #expect(retry.header("Idempotent-Replayed") == "true")
        #expect(api.journalTypes(try RunID("r")) == ["run.created", "a", "b", "between"])
        expectError(append("{\"type\":\"c\"}\n", key: "job-7 attempt"), 422, "idempotency_key_reused")
        expectError(append(batch, key: String(repeating: "k", count: 129)), 400, "invalid_idempotency_key")
        // A single JSON event, retried.
        let single = append(#"{"type":"one"}"#, key: "s", type: "application/json")
        #expect(append(#"{"type":"one"}"#, key: "s", type: "application/json").bodyText == single.bodyText)
        #expect(api.journalTypes(try RunID("r")).filter { $0 == "one" }.count == 1)
    }

    @Test("Idempotency-Key on create: the retry answers the same run, with or without an id")
    func idempotentCreate() throws {
        let api = try APIHarness()
        let first = api.request("POST", "/v1/runs", headers: ["content-type": "application/json", "idempotency-key": "c"], body: #"{"metadata":{"a":1}}"#)
        #expect(first.status == 201)
        let retry = api.request("POST", "/v1/runs", headers: ["content-type": "application/json", "idempotency-key": "c"], body: #"{"metadata":{"a":1}}"#)
        #expect(retry.status == 201)
        #expect(retry.bodyText == first.bodyText)
        #expect(retry.header("Location") == first.header("Location"))
        expectError(
            api.request("POST", "/v1/runs", headers: ["content-type": "application/json", "idempotency-key": "c"], body: #"{"metadata":{"a":2}}"#),
            422, "idempotency_key_reused")
        let list = api.request("GET", "/v1/runs")
        #expect((list.jsonObject?["runs"] as? [Any])?.count == 1)
    }

    @Test("ETag on GET a run; If-Match appends only at that last seq, else 412 with the current last_seq")
    func conditionalAppend() throws {
        let api = try APIHarness()
        _ = try api.createRun("r")
        #expect(api.request("GET", "/v1/runs/r").header("ETag") == "\"1\"")
        let ok = api.request("POST", "/v1/runs/r/events", headers: ["content-type": "application/json", "if-match": "\"1\""], body: #"{"type":"a"}"#)
        #expect(ok.status == 201)
        #expect(ok.header("ETag") == "\"2\"")
        let stale = api.request("POST", "/v1/runs/r/events", headers: ["content-type": "application/json", "if-match": "\"1\""], body: #"{"type":"b"}"#)
        #expect(stale.status == 412)
        #expect(stale.header("ETag") == "\"2\"")
        let error = stale.jsonObject?["error"] as? [String: Any]
        #expect(error?["code"] as? String == "last_seq_mismatch")
        #expect((error?["last_seq"] as? NSNumber)?.int64Value == 2)
        #expect(api.journalTypes(try RunID("r")) == ["run.created", "a"])
        #expect(api.request("POST", "/v1/runs/r/events", headers: ["content-type": "application/json", "if-match": "*"], body: #"{"type":"c"}"#).status == 201)
        for bad in ["2", "\"x\"", "\"-1\"", "\"\""] {
            expectError(api.request("POST", "/v1/runs/r/events", headers: ["content-type": "application/json", "if-match": bad], body: #"{"type":"d"}"#), 400, "invalid_if_match")
        }
    }

    @Test("a stream whose durability sync fails is a 503 before any header, and the journal is failed")
    func streamSyncFailure() throws {
        let failing = Atomic<Bool>(false)
        let (service, store, _) = try service(faults: StoreFaults { operation, path in
            operation == .fdatasync && path.hasSuffix("s.jsonl") && failing.load(ordering: .relaxed) ? .fail(errno: EIO) : nil
        })
        #expect(post(service, "/v1/runs", #"{"id":"s"}"#).status == 201)
        #expect(post(service, "/v1/runs/s/events", #"{"type":"a"}"#).status == 201)
        failing.store(true, ordering: .relaxed)
        let response = service.handle(HTTPRequest(method: "GET", path: "/v1/runs/s/events", query: [], headers: [:], body: []))
        expectError(response, 503, "journal_failed")
        #expect(try store.failure(of: try RunID("s")) != nil)
    }

    @Test("a failed journal's stream replays only what its last good sync covered, then ends")
    func failedJournalStream() throws {
        let failing = Atomic<Bool>(false)
        let (service, store, _) = try service(faults: StoreFaults { operation, path in
            operation == .fdatasync && path.hasSuffix("f.jsonl") && failing.load(ordering: .relaxed) ? .fail(errno: EIO) : nil
        })
        #expect(post(service, "/v1/runs", #"{"id":"f"}"#).status == 201)
        #expect(post(service, "/v1/runs/f/events", #"{"type":"durable"}"#).status == 201)
        failing.store(true, ordering: .relaxed)
        expectError(post(service, "/v1/runs/f/events", #"{"type":"lost"}"#), 503, "journal_failed")
        failing.store(false, ordering: .relaxed)
        #expect(try String(contentsOfFile: store.path(of: try RunID("f")), encoding: .utf8).split(separator: "\n").count == 3, "the unsynced line is in the page cache")
        let response = service.handle(HTTPRequest(method: "GET", path: "/v1/runs/f/events", query: [], headers: [:], body: []))
        guard response.status == 200, case .stream(let body) = response.body else {
            Issue.record("expected a stream, got \(response.status) \(response.bodyText)")
            return
        }
        let writer = RecordingWriter(clock: VirtualClock(VirtualClock.defaultStart))
        try body(writer)
        let text = writer.text
        #expect(text.contains("event: durable"))
        #expect(!text.contains("event: lost"))
    }
}
