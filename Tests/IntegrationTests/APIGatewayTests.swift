import Foundation
import Testing

/// What the web servers themselves add in front of the responder: body limits (their own and the
/// responder's `--max-body`) and their answers while the responder is down, per the shipped configs.
@Suite("API: body limits and a responder that is down")
struct APIGatewayTests {
    typealias Kind = WebServerFixture.Kind

    /// A single-event body of exactly `size` bytes (a `pad` string fills it up).
    static func event(ofSize size: Int) -> [UInt8] {
        let frame = #"{"type":"pad","data":{"pad":""}}"#
        return Array(#"{"type":"pad","data":{"pad":"\#(String(repeating: "x", count: size - frame.utf8.count))"}}"#.utf8)
    }

    @Test("a body over --max-body is refused by the responder with a 413 in the error shape; one at the limit is accepted",
          arguments: Kind.allCases)
    func respondersOwnBodyLimit(kind: Kind) async throws {
        let stack = try E2EStack.shared(["--max-body", "1000", "--idle-timeout", "off"])
        let api = stack.client(kind)
        let run = try await api.createRun(id: e2eUniqueID("limit"))
        let json = [("Content-Type", "application/json")]

        let tooLarge = try await api.request("POST", "/v1/runs/\(run)/events", headers: json, body: Self.event(ofSize: 1001))
        #expect(tooLarge.status == 413, "\(tooLarge.text)")
        #expect(tooLarge.errorCode == "payload_too_large")
        e2eExpectErrorShape(tooLarge)
        let muchLarger = try await api.request("POST", "/v1/runs", headers: json, body: Array(repeating: UInt8(ascii: " "), count: 50_000))
        #expect(muchLarger.status == 413)
        #expect(muchLarger.errorCode == "payload_too_large")

        let atLimit = try await api.request("POST", "/v1/runs/\(run)/events", headers: json, body: Self.event(ofSize: 1000))
        #expect(atLimit.status == 201, "\(atLimit.text)")
        #expect(E2EJournalLine.read(stack.journalDirectory, run).map(\.type) == ["run.created", "pad"])
    }

    @Test("nginx refuses a body over its 1 MiB client_max_body_size with a 413 in the API's error shape, on every route",
          arguments: ["/v1/runs", "/v1/runs/big/events", "/v1/runs/big/stop"])
    func nginxsOwnBodyLimit(target: String) async throws {
        // The responder would take 4 MiB: only nginx can be the one refusing.
        let stack = try E2EStack.shared(["--max-body", "4194304", "--idle-timeout", "off"])
        let api = stack.client(.nginx)
        let response = try await api.request(
            "POST", target, headers: [("Content-Type", "application/json")], body: Self.event(ofSize: (1 << 20) + 1))
        #expect(response.status == 413, "\(response.text)")
        #expect(response.errorCode == "payload_too_large", "\(target): \(response.text)")
        e2eExpectErrorShape(response)
    }

    @Test("lighttpd refuses a body over its 1 MiB server.max-request-size with its own 413")
    func lighttpdsOwnBodyLimit() async throws {
        let stack = try E2EStack.shared(["--max-body", "4194304", "--idle-timeout", "off"])
        let api = stack.client(.lighttpd)
        let run = try await api.createRun(id: e2eUniqueID("big"))
        let response = try await api.request(
            "POST", "/v1/runs/\(run)/events", headers: [("Content-Type", "application/json")], body: Self.event(ofSize: (1 << 20) + 1))
        // deploy/lighttpd.conf: lighttpd answers with its own (HTML) page, not the API's error shape.
        #expect(response.status == 413, "\(response.text.prefix(300))")
        #expect(E2EJournalLine.read(stack.journalDirectory, run).count == 1)
    }

    @Test("with the responder down nginx answers 502 in the error shape, and drops the connection on the events route")
    func nginxWithTheResponderDown() async throws {
        let stack = try E2EStack([], kinds: [.nginx])
        let api = stack.client(.nginx)
        let run = try await api.createRun(id: "down")
        #expect(stack.responder.stop() == 0)

        for (method, target) in [("GET", "/v1/runs/\(run)"), ("POST", "/v1/runs"), ("GET", "/v1/runs"), ("POST", "/v1/runs/\(run)/stop")] {
            let response = try await api.request(method, target)
            #expect(response.status == 502, "\(method) \(target): \(response.text)")
            #expect(response.errorCode == "bad_gateway", "\(method) \(target)")
            e2eExpectErrorShape(response)
        }
        // An EventSource treats a dropped connection as a network error and reconnects; a 5xx would end it.
        let curl = try HTTPClient.request(stack.url(.nginx, "/v1/runs/\(run)/events"), headers: [("Accept", "text/event-stream")])
        #expect(curl.status == nil, "\(curl.status.map(String.init) ?? "") \(curl.text)")
        #expect(curl.curlExitCode == 52, "curl exit \(curl.curlExitCode): expected 52, empty reply from server")
        let raw = try await api.request("GET", "/v1/runs/\(run)/events")
        #expect(raw.raw.isEmpty)
    }

    @Test("with the responder down lighttpd answers 503 or 502 itself (its own page, as deploy/lighttpd.conf documents)")
    func lighttpdWithTheResponderDown() async throws {
        let stack = try E2EStack([], kinds: [.lighttpd])
        let api = stack.client(.lighttpd)
        let run = try await api.createRun(id: "down")
        #expect(stack.responder.stop() == 0)
        for target in ["/v1/runs/\(run)", "/v1/runs/\(run)/events"] {
            let response = try await api.request("GET", target)
            #expect(response.status == 503 || response.status == 502, "\(target): \(response.status.map(String.init) ?? "none")")
        }
    }
}
