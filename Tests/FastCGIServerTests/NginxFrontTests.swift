import Foundation
import Testing
import RunsAPI
import FastCGIServer
import Synchronization

/// Requests through a real nginx running the shipped deploy/nginx.conf (decoding also through lighttpd and
/// deploy/lighttpd.conf), answered by our server in this
/// process.
@Suite struct NginxFrontTests {
    private func echo(_ result: HTTPResult) throws -> [String: Any] {
        try #require(result.json as? [String: Any], "not JSON: \(result.text)")
    }

    @Test(arguments: WebServerFixture.Kind.allCases)
    func decodesMethodPathQueryHeadersAndBody(kind: WebServerFixture.Kind) async throws {
        try await ServerHarness.with(behind: kind, handler: ClosureHandler(echoResponse)) { harness in
            let result = try await HTTPClient.fetch(
                "POST", harness.url("/v1/runs/r%C3%A9sum%C3%A9%2520x/events?after=a+b&n=%2B1&flag"),
                headers: [("Last-Event-ID", "run-1:42"), ("Content-Type", "application/json"), ("X-Trace", "t1")],
                body: Array(#"{"type":"log"}"#.utf8))
            #expect(result.status == 200)
            let seen = try echo(result)
            #expect(seen["method"] as? String == "POST")
            #expect(seen["path"] as? String == "/v1/runs/résumé%20x/events")
            #expect(seen["query"] as? [[String]] == [["after", "a b"], ["n", "+1"], ["flag", ""]])
            let headers = try #require(seen["headers"] as? [String: String])
            #expect(headers["last-event-id"] == "run-1:42")
            #expect(headers["content-type"] == "application/json")
            #expect(headers["content-length"] == "14")
            #expect(headers["x-trace"] == "t1")
            #expect(seen["body"] as? String == #"{"type":"log"}"#)
        }
    }

    /// A stream keeps its request for its whole life: a bodiless GET must not carry a body buffer sized
    /// for the largest allowed body.
    @Test func allocatesNoBodyBufferForABodilessRequest() async throws {
        let capacities = Recorder<Int>()
        try await ServerHarness.with(handler: ClosureHandler { request in
            capacities.record(request.body.capacity)
            return echoResponse(request)
        }) { harness in
            let get = try await HTTPClient.fetch(harness.url("/v1/runs/a/events"))
            let post = try await HTTPClient.fetch("POST", harness.url("/v1/runs"), body: Array(repeating: 0x41, count: 100))
            #expect(get.status == 200)
            #expect(post.status == 200)
            let seen = capacities.recorded
            #expect(seen.count == 2)
            #expect(seen.first == 0)
            #expect(seen.last.map { $0 >= 100 && $0 < 4096 } == true)
        }
    }

    @Test func passesStatusHeadersAndBodyOfTheResponseThrough() async throws {
        try await ServerHarness.with(handler: ClosureHandler { _ in
            HTTPResponse(status: 201, headers: [("Content-Type", "application/json"), ("Location", "/v1/runs/abc")],
                         body: .bytes(Array(#"{"id":"abc"}"#.utf8)))
        }) { harness in
            let result = try await HTTPClient.fetch("POST", harness.url("/v1/runs"), body: [])
            #expect(result.status == 201)
            #expect(result.header("Location") == "/v1/runs/abc")
            #expect(result.header("Content-Type") == "application/json")
            #expect(result.header("Content-Length") == "12")
            #expect(result.text == #"{"id":"abc"}"#)
        }
    }

    @Test func answersABodyOverMaxBody413WithoutCallingTheHandler() async throws {
        let calls = Counter()
        try await ServerHarness.with(configure: { $0.maxBodyBytes = 1000 }, handler: ClosureHandler { request in
            calls.increment()
            return echoResponse(request)
        }) { harness in
            let result = try await HTTPClient.fetch("POST", harness.url("/v1/runs"), body: [UInt8](repeating: 0x61, count: 5000))
            #expect(result.status == 413)
            #expect(result.errorCode == "payload_too_large")
            #expect(result.header("Content-Type") == "application/json")
            let exact = try await HTTPClient.fetch("POST", harness.url("/v1/runs"), body: [UInt8](repeating: 0x61, count: 1000))
            #expect(exact.status == 200)
            #expect(calls.current == 1)
        }
    }

    @Test(arguments: ["/v1/runs/%FF", "/v1/runs/a%C3%28b", "/v1/runs?x=%zz", "/v1/runs?x=%FF"])
    func answersUndecodableTargets400WithoutCallingTheHandler(target: String) async throws {
        let calls = Counter()
        try await ServerHarness.with(handler: ClosureHandler { request in
            calls.increment()
            return echoResponse(request)
        }) { harness in
            let result = try await HTTPClient.fetch(harness.url(target))
            #expect(result.status == 400)
            #expect(result.errorCode == "invalid_request")
            #expect(calls.current == 0)
        }
    }

    /// nginx decodes the path itself and refuses a malformed escape before the responder sees it; the
    /// client still gets the API's error shape from nginx's error_page.
    @Test func malformedPathEscapesGetA400InTheAPIErrorShapeFromEitherLayer() async throws {
        let calls = Counter()
        try await ServerHarness.with(handler: ClosureHandler { request in
            calls.increment()
            return echoResponse(request)
        }) { harness in
            for target in ["/v1/runs/%zz", "/v1/runs/a%00b"] {
                let result = try await HTTPClient.fetch(harness.url(target))
                #expect(result.status == 400, "\(target)")
                #expect(result.errorCode == "invalid_request", "\(target): \(result.text)")
            }
            #expect(calls.current == 0)
        }
    }

    @Test(arguments: ["/v1/runs", "/v1/runs/abc/events"])
    func nginxRefusesBodiesOverOneMebibyteWithTheAPIErrorShape(path: String) async throws {
        let calls = Counter()
        try await ServerHarness.with(configure: { $0.maxBodyBytes = 4 << 20 }, handler: ClosureHandler { request in
            calls.increment()
            return echoResponse(request)
        }) { harness in
            let result = try await HTTPClient.fetch("POST", harness.url(path), body: [UInt8](repeating: 0x61, count: (1 << 20) + 1))
            #expect(result.status == 413)
            #expect(result.errorCode == "payload_too_large")
            #expect(result.header("Content-Type") == "application/json")
            #expect(calls.current == 0)
        }
    }

    @Test func answers502InTheAPIErrorShapeWhenTheResponderIsDown() async throws {
        let directory = try TemporaryDirectory(prefix: "down")
        let nginx = try WebServerFixture.start(.nginx, socketPath: directory.file("nobody-listens.sock"))
        defer { nginx.stop() }
        let result = try await HTTPClient.fetch(nginx.url("/v1/runs"))
        #expect(result.status == 502)
        #expect(result.errorCode == "bad_gateway")
        #expect(result.header("Content-Type") == "application/json")
    }

    @Test func dropsTheConnectionOnTheEventsRouteWhenTheResponderIsDown() async throws {
        let directory = try TemporaryDirectory(prefix: "down")
        let nginx = try WebServerFixture.start(.nginx, socketPath: directory.file("nobody-listens.sock"))
        defer { nginx.stop() }
        let result = try await HTTPClient.fetch(nginx.url("/v1/runs/abc/events"), headers: [("Accept", "text/event-stream")])
        #expect(result.status == nil)
        #expect(result.curlExitCode == 52)  // "Empty reply from server": closed without a response
    }

    @Test func passesTheRespondersOwnErrorsThroughUnchanged() async throws {
        try await ServerHarness.with(handler: ClosureHandler { _ in
            .error(503, code: "custom_busy", message: "busy", extraHeaders: [("Retry-After", "7")])
        }) { harness in
            for path in ["/v1/runs", "/v1/runs/abc/events"] {
                let result = try await HTTPClient.fetch(harness.url(path))
                #expect(result.status == 503)
                #expect(result.errorCode == "custom_busy")
                #expect(result.header("Retry-After") == "7")
            }
        }
    }

    @Test func answersHeadRequestsWithoutABody() async throws {
        try await ServerHarness.with(handler: ClosureHandler { _ in .json(200, Array(#"{"ok":true}"#.utf8)) }) { harness in
            let result = try await HTTPClient.fetch("HEAD", harness.url("/v1/runs"))
            #expect(result.status == 200)
            #expect(result.body.isEmpty)
            #expect(result.header("Content-Length") == "12")
        }
    }
}
