import Foundation
import Logging
import RunJournal
import RunsAPI
import Testing

/// The access gate in memory: the tokens file's strict parsing, scopes, run patterns, the route table and
/// stream tokens in virtual time. The same rules through nginx are in IntegrationTests/Auth.
@Suite("Access control")
struct AccessControlTests {
    static let digestA = String(repeating: "a", count: 64)

    @Test("the tokens file: comments, blank lines, optional pattern, scopes nest")
    func parsesTokensFile() throws {
        let text = """
            # name scopes digest pattern
            reader read \(Self.digestA)   # trailing comment

            ci\tread,write\t\(String(repeating: "B", count: 64))\tacme-*
            ops admin \(String(repeating: "c", count: 64)) build-42
            """
        let tokens = try TokensFile.parse(text, path: "t")
        #expect(tokens.map(\.name) == ["reader", "ci", "ops"])
        #expect(tokens.map(\.scope) == [.read, .write, .admin])
        #expect(tokens[1].secretDigest == [UInt8](repeating: 0xbb, count: 32))
        #expect(tokens[0].runs == nil && tokens[1].runs?.description == "acme-*" && tokens[2].runs?.description == "build-42")
        #expect(AccessScope.admin.grants(.write) && AccessScope.write.grants(.read) && !AccessScope.read.grants(.write))
        #expect(!AccessScope.write.grants(.admin))
    }

    @Test("a bad line is an error naming the file and the line", arguments: [
        ("x read", 1, "fields"),
        ("# ok\nx reed \(digestA)", 2, "scopes"),
        ("x read, \(digestA)", 1, "scopes"),
        ("x read abc", 1, "SHA-256"),
        ("x read \(String(repeating: "g", count: 64))", 1, "SHA-256"),
        ("x read \(digestA) a*b*", 1, "pattern"),
        ("x read \(digestA) ../*", 1, "pattern"),
        ("x read \(digestA) acme-* extra", 1, "fields"),
        ("x/y read \(digestA)", 1, "name"),
        ("x read \(digestA)\n\nx write \(String(repeating: "b", count: 64))", 3, "line 1"),
        ("x read \(digestA)\ny write \(digestA)", 2, "same secret"),
    ])
    func rejectsBadLines(text: String, line: Int, mentions: String) {
        #expect {
            try TokensFile.parse(text, path: "/etc/rj/tokens")
        } throws: { error in
            let problem = error as? TokensFile.Problem
            return problem?.line == line && problem?.description.contains("/etc/rj/tokens line \(line):") == true
                && problem?.description.contains(mentions) == true
        }
    }

    @Test("run patterns: prefix, exact, everything; generated ids get the prefix")
    func runPatterns() throws {
        let acme = try #require(RunPattern("acme-*"))
        #expect(acme.matches("acme-1") && acme.matches("acme-") && !acme.matches("acm") && !acme.matches("beta-acme-1"))
        #expect(acme.generatedID == .prefixed("acme-"))
        let exact = try #require(RunPattern("build-42"))
        #expect(exact.matches("build-42") && !exact.matches("build-421"))
        #expect(exact.generatedID == .exact("build-42"))
        #expect(RunPattern("*")?.generatedID == .standard)
        #expect(RunPattern(String(repeating: "a", count: 40) + "*")?.generatedID == .impossible)
        #expect(RunPattern("*acme") == nil && RunPattern("-x*") == nil)
        let id = RunID.generate(at: 1_700_000_000_000, prefix: "acme-")
        #expect(id.rawValue.hasPrefix("acme-") && id.rawValue.count == 5 + RunID.generatedSuffixLength)
    }

    @Test("secrets: 43 base64url characters, 256 bits; the digest is SHA-256 of the text")
    func secrets() {
        let secret = TokenSecret.generate()
        #expect(secret.count == 43)
        #expect(secret.utf8.allSatisfy { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) })
        #expect(TokenSecret.generate() != secret)
        // printf %s abc | sha256sum
        #expect(TokenSecret.hexDigest(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("stream tokens: valid for their run until expiry, not for another run, not after tampering or a key change")
    func streamTokenVerdicts() {
        let signer = StreamTokenSigner(keyBytes: Array(repeating: 7, count: 32))
        let token = signer.mint(runID: "r1", incarnation: "abc", expiresAtSeconds: 1000)
        #expect(signer.verify(token, runID: "r1", nowSeconds: 999) == .valid(incarnation: "abc"))
        #expect(signer.verify(token, runID: "r1", nowSeconds: 1000) == .expired)
        #expect(signer.verify(token, runID: "r2", nowSeconds: 10) == .notForThisRun)
        #expect(signer.verify(token.replacingOccurrences(of: "v1.1000.", with: "v1.9000."), runID: "r1", nowSeconds: 10) == .notForThisRun)
        #expect(signer.verify("garbage", runID: "r1", nowSeconds: 10) == .malformed)
        signer.replaceKey(with: Array(repeating: 8, count: 32))
        #expect(signer.verify(token, runID: "r1", nowSeconds: 10) == .notForThisRun)
    }

    @Test("the route table: scopes per route, run id segment (trailing slash too), open health checks")
    func routeTable() {
        let rules = AccessRules.standard
        #expect(rules.match(method: "GET", path: "/v1/runs")?.requirement == .scope(.read))
        #expect(rules.match(method: "POST", path: "/v1/runs")?.requirement == .scope(.write))
        #expect(rules.match(method: "GET", path: "/v1/runs/x/")?.runID == "x")
        #expect(rules.match(method: "GET", path: "/v1/runs/x/events")?.acceptsStreamToken == true)
        #expect(rules.match(method: "POST", path: "/v1/runs/x/events")?.acceptsStreamToken == false)
        #expect(rules.match(method: "POST", path: "/v1/runs/x/stream-tokens")?.requirement == .scope(.read))
        #expect(rules.match(method: "GET", path: "/metrics")?.requirement == .scope(.admin))
        #expect(rules.match(method: "GET", path: "/healthz")?.requirement == .open)
        #expect(rules.match(method: "DELETE", path: "/v1/runs/x") == nil)
    }

    @Test("through the service: 401 without a token, 403 outside the pattern whether the run exists or not, filtered list")
    func gateInTheService() throws {
        let harness = try APIHarness()
        let acme = "acme-secret-for-tests"
        let reader = "reader-secret-for-tests"
        try """
            acme write \(TokenSecret.hexDigest(of: acme)) acme-*
            reader read \(TokenSecret.hexDigest(of: reader))
            """.write(toFile: harness.directory.file("tokens"), atomically: true, encoding: .utf8)
        let access = try AccessControl(settings: AuthSettings(tokensFile: harness.directory.file("tokens")), logger: .quietForTests)
        let service = RunsService(context: harness.context, accessControl: access)
        func send(_ method: String, _ path: String, _ secret: String?, body: String = "") -> HTTPResponse {
            service.handle(HTTPRequest(
                method: method, path: path, headers: secret.map { ["authorization": "Bearer \($0)", "content-type": "application/json"] } ?? ["content-type": "application/json"],
                body: Array(body.utf8)))
        }
        try harness.createRun("acme-1")
        try harness.createRun("beta-1")
        let none = send("GET", "/v1/runs", nil)
        #expect(none.status == 401 && none.header("WWW-Authenticate") == "Bearer realm=\"runjournal\"")
        #expect(send("GET", "/v1/runs/acme-1", acme).status == 200)
        let existing = send("GET", "/v1/runs/beta-1", acme)
        let missing = send("GET", "/v1/runs/beta-2", acme)
        #expect(existing.status == 403 && missing.status == 403)
        guard case .bytes(let one) = existing.body, case .bytes(let two) = missing.body else { Issue.record("no body"); return }
        #expect(one == two)
        guard case .bytes(let list) = send("GET", "/v1/runs", acme).body else { Issue.record("no body"); return }
        let text = String(decoding: list, as: UTF8.self)
        #expect(text.contains("acme-1") && !text.contains("beta-1"))
        #expect(send("POST", "/v1/runs", reader, body: #"{"id":"r-1"}"#).status == 403)
        let created = send("POST", "/v1/runs", acme)
        #expect(created.status == 201)
        #expect(created.header("Location")?.hasPrefix("/v1/runs/acme-") == true)
        #expect(send("POST", "/v1/runs", acme, body: #"{"id":"beta-3"}"#).status == 403)
        #expect(!harness.store.exists(try RunID("beta-3")))

        // Stream tokens in virtual time: valid now, 401 after the ttl.
        guard case .bytes(let minted) = send("POST", "/v1/runs/acme-1/stream-tokens", reader).body,
            let object = try JSONSerialization.jsonObject(with: Data(minted)) as? [String: Any], let token = object["token"] as? String
        else { Issue.record("no token"); return }
        let streamRequest = HTTPRequest(method: "GET", path: "/v1/runs/acme-1/events", query: [(name: "access_token", value: token)])
        #expect(service.handle(streamRequest).status == 200)
        var other = streamRequest
        other.path = "/v1/runs/beta-1/events"
        #expect(service.handle(other).status == 401)
        harness.clock.advance(by: 601_000)
        #expect(service.handle(streamRequest).status == 401)
    }
}
