import Foundation
import RunJournal
import Testing

/// Hostile request targets and bodies, sent byte for byte (no client-side normalization) through nginx and
/// lighttpd: each gets the right 4xx, the responder keeps answering, and not one byte changes anywhere under
/// the responder's directory (its journals, their catalog index, and the directory a traversal would reach).
/// Serialized: a create that is refused (409) briefly holds a temporary file, which a snapshot taken by a
/// parallel case would see.
@Suite("API: hostile ids and bodies", .serialized)
struct APIHostileInputTests {
    typealias Kind = WebServerFixture.Kind

    /// One hostile request and the statuses it may get.
    struct HostileRequest: Sendable, CustomTestStringConvertible {
        var name: String
        var method: String
        var target: [UInt8]
        var contentType: String?
        var headers: [(String, String)] = []
        var body: [UInt8]?
        var statuses: Set<Int>
        /// The API error code, when the responder (not the web server) must be the one answering.
        var code: String?

        var testDescription: String { name }

        init(_ name: String, _ method: String, _ target: String, rawTarget: [UInt8]? = nil, contentType: String? = nil,
             headers: [(String, String)] = [], body: [UInt8]? = nil, _ statuses: Set<Int>, code: String? = nil) {
            self.name = name
            self.method = method
            self.target = rawTarget ?? Array(target.utf8)
            self.contentType = contentType ?? (body == nil ? nil : "application/json")
            self.headers = headers
            self.body = body
            self.statuses = statuses
            self.code = code
        }
    }

    static let long = String(repeating: "a", count: 65)
    static let veryLong = String(repeating: "b", count: 4000)
    static let event = Array(#"{"type":"x","data":{}}"#.utf8)

    static let requests: [HostileRequest] = [
        // Traversal in the path, in every encoding.
        .init("encoded slashes ..%2F..%2Fetc%2Fpasswd", "GET", "/v1/runs/..%2F..%2Fetc%2Fpasswd", [404], code: "not_found"),
        .init("encoded slashes on the events route", "POST", "/v1/runs/..%2F..%2Fetc%2Fpasswd/events", body: event, [404], code: "not_found"),
        .init("encoded dots %2e%2e", "GET", "/v1/runs/%2e%2e", [400], code: "invalid_run_id"),
        .init("encoded dots %2E%2E on events", "GET", "/v1/runs/%2E%2E/events", [400], code: "invalid_run_id"),
        .init("encoded dots on append", "POST", "/v1/runs/%2e%2e/events", body: event, [400], code: "invalid_run_id"),
        .init("encoded dots and slashes on stop", "POST", "/v1/runs/%2e%2e%2f%2e%2e%2fescape/stop", [404], code: "not_found"),
        .init("a real id then encoded ..%2F on stop", "POST", "/v1/runs/target%2F..%2F..%2Fx/stop", [404], code: "not_found"),
        .init("double-encoded ..%252F", "GET", "/v1/runs/..%252F..%252Fetc", [400], code: "invalid_run_id"),
        .init("literal ../ segments", "GET", "/v1/runs/../../../etc/passwd", [400, 404]),
        .init("literal ../ after an id", "GET", "/v1/runs/target/../../../etc", [400, 404]),
        .init("literal .. as the id", "POST", "/v1/runs/../events", body: event, [400, 404]),
        .init("overlong UTF-8 dots %C0%AE", "GET", "/v1/runs/%C0%AE%C0%AE", [400]),
        .init("NUL %00 inside an id", "GET", "/v1/runs/a%00b", [400]),
        .init("NUL %00 before .jsonl", "GET", "/v1/runs/target%00.jsonl", [400]),
        .init("NUL %00 on append", "POST", "/v1/runs/target%00/events", body: event, [400]),
        .init("newline %0a in an id", "GET", "/v1/runs/target%0a", [400]),
        .init("invalid UTF-8 escapes %ff%fe", "GET", "/v1/runs/%ff%fe", [400]),
        .init("raw invalid UTF-8 bytes in the target", "GET", "", rawTarget: Array("/v1/runs/".utf8) + [0xFF, 0xFE, 0x80], [400]),
        .init("hidden file id .hidden", "GET", "/v1/runs/.hidden", [400], code: "invalid_run_id"),
        .init("the catalog index as an id", "GET", "/v1/runs/.runs.index", [400], code: "invalid_run_id"),
        .init("65-character id", "GET", "/v1/runs/\(long)", [400], code: "invalid_run_id"),
        .init("65-character id on append", "POST", "/v1/runs/\(long)/events", body: event, [400], code: "invalid_run_id"),
        .init("4000-character id", "GET", "/v1/runs/\(veryLong)/events", [400], code: "invalid_run_id"),
        // Hostile ids in create bodies.
        .init("create id ../../x", "POST", "/v1/runs", body: Array(#"{"id":"../../x"}"#.utf8), [400], code: "invalid_run_id"),
        .init("create id ..%2Fx", "POST", "/v1/runs", body: Array(#"{"id":"..%2Fx"}"#.utf8), [400], code: "invalid_run_id"),
        .init("create id with an escaped NUL", "POST", "/v1/runs", body: Array(#"{"id":"a\u0000b"}"#.utf8), [400], code: "invalid_run_id"),
        .init("create id .hidden", "POST", "/v1/runs", body: Array(#"{"id":".hidden"}"#.utf8), [400], code: "invalid_run_id"),
        .init("create id .runs.index", "POST", "/v1/runs", body: Array(#"{"id":".runs.index"}"#.utf8), [400], code: "invalid_run_id"),
        .init("create a 65-character id", "POST", "/v1/runs", body: Array(#"{"id":"\#(long)"}"#.utf8), [400], code: "invalid_run_id"),
        .init("create over an existing run", "POST", "/v1/runs", body: Array(#"{"id":"target","metadata":{"x":1}}"#.utf8), [409], code: "run_exists"),
        .init("create with invalid UTF-8 metadata", "POST", "/v1/runs", body: Array(#"{"metadata":{"k":""#.utf8) + [0xC3, 0x28] + Array(#""}}"#.utf8), [400], code: "invalid_json"),
        // Huge, deep and broken JSON.
        .init("create body of 100,000 [", "POST", "/v1/runs", body: [UInt8](repeating: UInt8(ascii: "["), count: 100_000), [400], code: "invalid_json"),
        .init("event body of 100,000 [", "POST", "/v1/runs/target/events", body: [UInt8](repeating: UInt8(ascii: "["), count: 100_000), [400], code: "invalid_json"),
        .init("event data nested 100,000 objects deep", "POST", "/v1/runs/target/events",
              body: Array(#"{"type":"x","data":"#.utf8) + Array(String(repeating: #"{"a":"#, count: 100_000).utf8) + [UInt8(ascii: "1")]
                  + [UInt8](repeating: UInt8(ascii: "}"), count: 100_001), [400], code: "invalid_json"),
        .init("event data with invalid UTF-8", "POST", "/v1/runs/target/events", body: Array(#"{"type":"x","data":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8), [400], code: "invalid_json"),
        .init("event key with invalid UTF-8", "POST", "/v1/runs/target/events", body: Array(#"{""#.utf8) + [0xFF] + Array(#"":1}"#.utf8), [400], code: "invalid_json"),
        .init("event with a raw NUL in a string", "POST", "/v1/runs/target/events", body: Array(#"{"type":"x","data":"a"#.utf8) + [0] + Array(#"b"}"#.utf8), [400], code: "invalid_json"),
        .init("event type ../../x", "POST", "/v1/runs/target/events", body: Array(#"{"type":"../../x"}"#.utf8), [400], code: "invalid_event_type"),
        .init("event type with a newline", "POST", "/v1/runs/target/events", body: Array(#"{"type":"a\nb"}"#.utf8), [400], code: "invalid_event_type"),
        .init("NDJSON batch with one bad line", "POST", "/v1/runs/target/events", contentType: "application/x-ndjson",
              body: Array("{\"type\":\"ok\"}\n{\"type\":\"ok\",\"data\":[}\n".utf8), [400], code: "invalid_json"),
        .init("NDJSON batch with an event after the terminal one", "POST", "/v1/runs/target/events", contentType: "application/x-ndjson",
              body: Array("{\"type\":\"run.completed\"}\n{\"type\":\"late\"}\n".utf8), [400], code: "invalid_batch"),
        .init("NDJSON body of blank lines", "POST", "/v1/runs/target/events", contentType: "application/x-ndjson", body: Array("\n \n\t\n".utf8), [400], code: "invalid_batch"),
        .init("appending run.created", "POST", "/v1/runs/target/events", body: Array(#"{"type":"run.created","data":{"metadata":{}}}"#.utf8), [422], code: "reserved_event_type"),
        .init("appending to an ended run", "POST", "/v1/runs/ended/events", body: event, [409], code: "run_terminal"),
        .init("stopping an ended run", "POST", "/v1/runs/ended/stop", [409], code: "run_terminal"),
        .init("an event as text/plain", "POST", "/v1/runs/target/events", contentType: "text/plain", body: event, [415], code: "unsupported_media_type"),
        // Hostile resume points.
        .init("Last-Event-ID ../../etc", "GET", "/v1/runs/target/events", headers: [("Last-Event-ID", "../../etc")], [400], code: "invalid_last_event_id"),
        .init("Last-Event-ID beyond 64 bits", "GET", "/v1/runs/target/events", headers: [("Last-Event-ID", "99999999999999999999999")], [400], code: "invalid_last_event_id"),
        .init("last_event_id=-1", "GET", "/v1/runs/target/events?last_event_id=-1", [400], code: "invalid_last_event_id"),
        .init("cursor ../../x", "GET", "/v1/runs?cursor=..%2F..%2Fx", [400], code: "invalid_cursor"),
    ]

    /// One responder for every hostile request: journals written before it starts, no sweeps after the
    /// first (`--sweep-interval 3600`) and no watchdog, so nothing but a hostile request could change a byte.
    static func stack() throws -> E2EStack {
        try E2EStack.shared(named: "hostile") {
            let directory = try TemporaryDirectory(prefix: "e2eh")
            let journal = try directory.makeDirectory("journal")
            let store = try JournalStore(directory: journal)
            _ = try store.create(id: RunID("target"), metadata: Array(#"{"role":"target"}"#.utf8))
            _ = try store.append(RunID("target"), [try NewEvent(type: EventType("step"), json: Array(#"{"n":1}"#.utf8))])
            _ = try store.create(id: RunID("ended"))
            _ = try store.append(RunID("ended"), [NewEvent(type: .completed, compactData: Array("{}".utf8))])
            let stack = try E2EStack(["--idle-timeout", "off", "--sweep-interval", "3600"], journalDirectory: journal)
            stack.retain(directory)
            // The first sweep writes the catalog index; from then on nothing may change.
            guard waitUntil(timeout: .seconds(20), { FileManager.default.fileExists(atPath: journal + "/.runs.index") }) else {
                throw ChildProcess.SpawnError(description: "the responder never wrote its catalog index: \(stack.log)")
            }
            return stack
        }
    }

    @Test("a hostile request gets its 4xx, changes no byte on disk, and the responder keeps answering",
          arguments: Kind.allCases, requests)
    func hostileRequestChangesNothing(kind: Kind, request: HostileRequest) async throws {
        let stack = try Self.stack()
        let root = (stack.journalDirectory as NSString).deletingLastPathComponent
        let snapshot = { try E2EDirectorySnapshot(root) { $0.hasSuffix(".log") } }
        let before = try snapshot()

        var headers = request.headers
        if let contentType = request.contentType { headers.append(("Content-Type", contentType)) }
        let response = try await stack.client(kind).request(request.method, rawTarget: request.target, headers: headers, body: request.body)
        #expect(response.status.map(request.statuses.contains) == true,
                "\(request.name) through \(kind): \(response.status.map(String.init) ?? "no status") \(response.text.prefix(300))")
        if let code = request.code {
            #expect(response.errorCode == code, "\(request.name): \(response.text.prefix(300))")
        }
        if response.json != nil || kind == .nginx {
            // nginx turns even its own refusals into the API's error shape.
            e2eExpectErrorShape(response)
        } else {
            // lighttpd refuses some targets itself (NUL, invalid UTF-8, control bytes) with its own HTML page,
            // as deploy/lighttpd.conf documents; it must still be a 400, and never reach the responder.
            #expect(response.status == 400, "\(request.name): \(response.text.prefix(300))")
        }

        let alive = try await stack.client(kind).get("/v1/runs/target")
        #expect(alive.status == 200, "the responder stopped answering after \(request.name): \(stack.log.suffix(2000))")
        #expect((alive.json as? [String: Any])?["last_seq"] as? Int == 2)
        #expect(stack.responder.isRunning)
        let after = try snapshot()
        #expect(before == after, "\(request.name) changed the directory:\nbefore: \(before)\nafter:  \(after)")
    }
}
