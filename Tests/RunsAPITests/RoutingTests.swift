import RunJournal
import Testing

@testable import RunsAPI

/// `RunsService.handle` routing: unknown paths, wrong methods, and the one error shape.
@Suite("Routing")
struct RoutingTests {
    @Test("an unknown route is a 404", arguments: ["/", "/v1", "/v2/runs", "/v1/run", "/v1/runs/r1/events/extra", "/v1/runs/r1/logs", "/v1/runs//events", "v1/runs", "/V1/RUNS"])
    func unknownRouteIs404(path: String) throws {
        let api = try APIHarness()
        let message = expectError(api.request("GET", path), 404, "not_found")
        #expect(message.contains(path))
    }

    @Test("a wrong method is a 405 with Allow listing the route's methods", arguments: [
        ("DELETE", "/v1/runs", "GET, POST"),
        ("PUT", "/v1/runs/r1", "GET"),
        ("POST", "/v1/runs/r1", "GET"),
        ("DELETE", "/v1/runs/r1/events", "GET, POST"),
        ("GET", "/v1/runs/r1/stop", "POST"),
        ("get", "/v1/runs", "GET, POST"),
    ])
    func wrongMethodIs405(method: String, path: String, allow: String) throws {
        let api = try APIHarness()
        try api.createRun("r1")
        let response = api.request(method, path)
        expectError(response, 405, "method_not_allowed")
        #expect(response.header("Allow") == allow)
        #expect(api.journalTypes(try RunID("r1")) == ["run.created"])
    }

    @Test("one trailing slash is tolerated")
    func trailingSlash() throws {
        let api = try APIHarness()
        try api.createRun("r1")
        #expect(api.request("GET", "/v1/runs/").status == 200)
        #expect(api.request("GET", "/v1/runs/r1/").status == 200)
    }

    @Test("routes parse into their operations")
    func routeParsing() {
        #expect(Route(path: "/v1/runs") == .runs)
        #expect(Route(path: "/v1/runs/abc") == .run("abc"))
        #expect(Route(path: "/v1/runs/abc/events") == .runEvents("abc"))
        #expect(Route(path: "/v1/runs/abc/stop") == .runStop("abc"))
        #expect(Route(path: "/v1/runs/abc/stop/") == .runStop("abc"))
        #expect(Route(path: "/v1/runs/abc//") == nil)
        #expect(Route(path: "/v1/runs/") == .runs)
        #expect(Route(path: "/v1/runs/abc/events//") == nil)
        #expect(Route(path: "/v1/runs/abc/events/x") == nil)
        #expect(Route(path: "/v1/runs/abc/events/x/") == nil)
        #expect(Route(path: "/v1/runs/abc/events/x/y/z") == nil)
        #expect(Route(path: "/v1/runs//events") == nil)
        #expect(Route(path: "/v1/runz") == nil)
        #expect(Route(path: "/v2/runs") == nil)
        #expect(Route(path: "v1/runs") == nil)
        #expect(Route(path: "/v1/runs/r\u{E9}sum\u{E9}") == .run("r\u{E9}sum\u{E9}"))
        #expect(Route(path: "") == nil)
    }

    @Test("error bodies are valid JSON even when the message carries quotes and control characters")
    func errorBodiesEscape() throws {
        let api = try APIHarness()
        let response = api.request("GET", "/v1/runs/\"quoted\"\n\u{01}/x")
        expectError(response, 404, "not_found")
        let invalid = api.request("GET", "/v1/runs/a\"b")
        expectError(invalid, 400, "invalid_run_id")
    }

    @Test("an internal error becomes a 500 in the same shape")
    func internalErrorShape() {
        struct Boom: Error {}
        expectError(APIError.response(for: Boom()), 500, "internal_error")
        expectError(APIError.response(for: JournalError.io(operation: "write", path: "/j/x.jsonl", errno: 28)), 507, "insufficient_storage")
        expectError(APIError.response(for: JournalError.io(operation: "write", path: "/j/x.jsonl", errno: 5)), 500, "io_error")
        expectError(APIError.response(for: JournalError.corruptJournal(path: "/j/x.jsonl", line: 3, reason: "bad")), 500, "corrupt_journal")
    }
}
