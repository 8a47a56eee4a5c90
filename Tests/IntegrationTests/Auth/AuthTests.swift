import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Access control end to end through nginx: bearer tokens and their scopes, run patterns (incl. the listing
/// and generated ids), stream tokens, and the shipped configs keeping `access_token` out of access logs.
@Suite("Auth: tokens, scopes, run patterns, stream tokens")
struct AuthTests {
    @Test("no token and an unknown token get 401 with WWW-Authenticate: Bearer and the JSON error shape")
    func unauthenticatedRequestsGet401() async throws {
        let auth = try AuthStack.shared()
        let api = auth.client(.nginx)
        let run = try await api.createRun(e2eUniqueID("anon"), as: auth.writer)
        let wrong = IssuedToken(name: "nobody", secret: "not-a-token-anyone-issued", line: "")
        let requests: [(String, String)] = [
            ("GET", "/v1/runs"), ("GET", "/v1/runs/\(run)"), ("GET", "/v1/runs/\(run)/events"), ("POST", "/v1/runs"),
            ("POST", "/v1/runs/\(run)/stop"), ("GET", "/v1/runs/no-such-run"), ("GET", "/no/such/route"),
        ]
        for (method, target) in requests {
            for token in [nil, wrong] {
                let response = try await api.send(method, target, as: token)
                #expect(response.status == 401, "\(method) \(target) as \(token?.name ?? "anonymous"): \(response.text)")
                #expect(response.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
                #expect(response.errorCode == "unauthorized")
            }
        }
        // Another scheme, or a bearer secret for another token with one character changed.
        let basic = try await api.request("GET", "/v1/runs", headers: [("Authorization", "Basic cmVhZGVyOnNlY3JldA==")])
        #expect(basic.status == 401)
        var altered = Array(auth.reader.secret.utf8)
        altered[altered.count - 1] = altered.last == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let near = IssuedToken(name: "near", secret: String(decoding: altered, as: UTF8.self), line: "")
        #expect(try await api.send("GET", "/v1/runs", as: near).status == 401)
        // Nothing was changed by the refused requests.
        #expect(E2EJournalLine.read(auth.stack.journalDirectory, run).map(\.type) == ["run.created"])
    }

    @Test("read: show, list and stream; not create, append, stop or /metrics")
    func readScope() async throws {
        let auth = try AuthStack.shared()
        let api = auth.client(.nginx)
        let run = try await api.createRun(e2eUniqueID("read"), as: auth.writer)
        #expect(try await api.send("GET", "/v1/runs/\(run)", as: auth.reader).status == 200)
        #expect(try await api.send("GET", "/v1/runs?limit=5", as: auth.reader).status == 200)
        let stream = try api.stream(run, headers: [auth.reader.header])
        #expect(await stream.wait(timeout: .seconds(30)) { $0.events.count == 1 }, "\(stream.text)")
        #expect(stream.status == 200)
        stream.close()
        for (method, target, json) in [
            ("POST", "/v1/runs", #"{"id":"\#(e2eUniqueID("read"))"}"#), ("POST", "/v1/runs/\(run)/events", #"{"type":"x","data":{}}"#),
            ("POST", "/v1/runs/\(run)/stop", nil), ("GET", "/metrics", nil),
        ] {
            let response = try await api.send(method, target, as: auth.reader, json: json)
            #expect(response.status == 403, "\(method) \(target): \(response.text)")
            #expect(response.errorCode == "forbidden")
            #expect(response.header("WWW-Authenticate") == nil)
        }
        #expect(E2EJournalLine.read(auth.stack.journalDirectory, run).map(\.type) == ["run.created"])
    }

    @Test("write: create, append, stop (and read); not /metrics. admin: /metrics and everything else")
    func writeAndAdminScopes() async throws {
        let auth = try AuthStack.shared()
        let api = auth.client(.nginx)
        let run = try await api.createRun(e2eUniqueID("write"), as: auth.writer)
        let append = try await api.send("POST", "/v1/runs/\(run)/events", as: auth.writer, json: #"{"type":"step","data":{}}"#)
        #expect(append.status == 201, "\(append.text)")
        #expect(try await api.send("GET", "/v1/runs/\(run)", as: auth.writer).status == 200)
        #expect(try await api.send("POST", "/v1/runs/\(run)/stop", as: auth.writer).status == 202)
        #expect(try await api.send("GET", "/metrics", as: auth.writer).status == 403)
        // /metrics may not be served by this build (404), but the admin token gets past the gate.
        let metrics = try await api.send("GET", "/metrics", as: auth.admin)
        #expect(metrics.status != 401 && metrics.status != 403, "\(metrics.text)")
        let adminRun = try await api.createRun(nil, as: auth.admin)
        #expect(adminRun.hasPrefix("run_"))
        #expect(try await api.send("GET", "/v1/runs/\(run)", as: auth.admin).status == 200)
        // Health checks need no token (the routes may not exist in this build: anything but 401).
        for path in ["/healthz", "/readyz"] {
            #expect(try await api.send("GET", path, as: nil).status != 401)
        }
    }

    @Test("a run pattern confines every operation; outside it the answer is 403 whether the run exists or not")
    func runPatternConfinesTheToken() async throws {
        let auth = try AuthStack.shared()
        let api = auth.client(.nginx)
        let inside = try await api.createRun("acme-" + e2eUniqueID("p"), as: auth.acme)
        let outside = try await api.createRun(e2eUniqueID("beta"), as: auth.writer)
        let missing = e2eUniqueID("beta")
        #expect(try await api.send("GET", "/v1/runs/\(inside)", as: auth.acme).status == 200)
        #expect(try await api.send("POST", "/v1/runs/\(inside)/events", as: auth.acme, json: #"{"type":"x","data":{}}"#).status == 201)
        var answers: [String] = []
        for run in [outside, missing] {
            for (method, target, json) in [
                ("GET", "/v1/runs/\(run)", nil as String?), ("GET", "/v1/runs/\(run)/", nil), ("GET", "/v1/runs/\(run)/events", nil),
                ("POST", "/v1/runs/\(run)/events", #"{"type":"x","data":{}}"#), ("POST", "/v1/runs/\(run)/stop", nil),
                ("POST", "/v1/runs/\(run)/stream-tokens", nil), ("POST", "/v1/runs", #"{"id":"\#(run)"}"#),
            ] {
                let response = try await api.send(method, target, as: auth.acme, json: json)
                #expect(response.status == 403, "\(method) \(target): \(response.text)")
                answers.append("\(method) \(target.replacingOccurrences(of: run, with: "RUN")) \(response.status ?? 0) \(response.text)")
            }
        }
        // Byte for byte the same answers for the existing and the missing run.
        #expect(Array(answers[..<7]) == Array(answers[7...]))
        #expect(E2EJournalLine.read(auth.stack.journalDirectory, outside).map(\.type) == ["run.created"])
        #expect(!FileManager.default.fileExists(atPath: auth.stack.journalDirectory + "/\(missing).jsonl"))
    }

    @Test("a pattern token lists only its runs, page by page, and its generated ids get the pattern's prefix")
    func runPatternFiltersTheListingAndNamesNewRuns() async throws {
        let auth = try AuthStack.shared()
        let api = auth.client(.nginx)
        var mine: Set<String> = []
        for _ in 0..<3 { mine.insert(try await api.createRun(nil, as: auth.acme)) }
        for id in mine { #expect(id.hasPrefix("acme-"), "\(id)") }
        _ = try await api.createRun(e2eUniqueID("other"), as: auth.writer)
        _ = try await api.createRun(nil, as: auth.writer)
        var seen: [String] = []
        var cursor: String?
        repeat {
            let response = try await api.send("GET", "/v1/runs?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), as: auth.acme)
            try #require(response.status == 200, "\(response.text)")
            let object = try #require(response.json as? [String: Any])
            seen += try #require(object["runs"] as? [[String: Any]]).compactMap { $0["id"] as? String }
            cursor = object["next_cursor"] as? String
        } while cursor != nil
        #expect(seen.allSatisfy { $0.hasPrefix("acme-") }, "\(seen)")
        #expect(mine.isSubset(of: Set(seen)))
        // The unconfined token sees the others too.
        let all = try await api.send("GET", "/v1/runs?limit=1000", as: auth.reader)
        let allIDs = ((all.json as? [String: Any])?["runs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
        #expect(allIDs.contains { !$0.hasPrefix("acme-") })
        // The same Idempotency-Key under two tokens with different prefixes: two runs, each inside its own pattern.
        let key = e2eUniqueID("key")
        let acmeCreate = try await api.send("POST", "/v1/runs", as: auth.acme, headers: [("Idempotency-Key", key)])
        let plainCreate = try await api.send("POST", "/v1/runs", as: auth.writer, headers: [("Idempotency-Key", key)])
        let acmeID = (acmeCreate.json as? [String: Any])?["id"] as? String
        let plainID = (plainCreate.json as? [String: Any])?["id"] as? String
        #expect(acmeCreate.status == 201 && plainCreate.status == 201, "\(acmeCreate.text) \(plainCreate.text)")
        #expect(acmeID?.hasPrefix("acme-") == true && plainID?.hasPrefix("run_") == true, "\(String(describing: acmeID)) \(String(describing: plainID))")
    }

    @Test("a stream token opens that run's stream, not another's; bad ttl is 400; the minting token needs read on the run")
    func streamTokens() async throws {
        let auth = try AuthStack.shared()
        let api = auth.client(.nginx)
        let run = try await api.createRun(e2eUniqueID("st"), as: auth.writer)
        let other = try await api.createRun(e2eUniqueID("st"), as: auth.writer)
        let token = try await api.streamToken(run, as: auth.reader)
        let stream = try api.stream(run, query: "?access_token=\(token)")
        #expect(await stream.wait(timeout: .seconds(30)) { $0.events.count == 1 }, "\(stream.text)")
        #expect(stream.status == 200)
        stream.close()
        // The same token on another run: 401, the answer on which EventSource stops.
        let elsewhere = try await api.request("GET", "/v1/runs/\(other)/events?access_token=\(token)")
        #expect(elsewhere.status == 401, "\(elsewhere.text)")
        #expect(elsewhere.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        // Only the event stream takes one.
        #expect(try await api.request("GET", "/v1/runs/\(run)?access_token=\(token)").status == 401)
        // Tampered with: another expiry under the same signature.
        let parts = token.split(separator: ".").map(String.init)
        let forged = ([parts[0], String(Int(parts[1])! + 3600)] + parts[2...]).joined(separator: ".")
        #expect(try await api.request("GET", "/v1/runs/\(run)/events?access_token=\(forged)").status == 401)
        for ttl in ["0", "86401", "abc", "-5", ""] {
            let response = try await api.send("POST", "/v1/runs/\(run)/stream-tokens?ttl=\(ttl)", as: auth.reader)
            #expect(response.status == 400, "ttl=\(ttl): \(response.text)")
            #expect(response.errorCode == "invalid_ttl")
        }
        #expect(try await api.send("POST", "/v1/runs/\(run)/stream-tokens?ttl=86400", as: auth.reader).status == 200)
        #expect(try await api.send("POST", "/v1/runs/no-such-run/stream-tokens", as: auth.reader).status == 404)
        #expect(try await api.send("POST", "/v1/runs/\(run)/stream-tokens", as: nil).status == 401)
    }

    @Test("an expired stream token gets 401 on (re)connect, while a stream opened with it before goes on")
    func expiredStreamToken() async throws {
        let auth = try AuthStack.shared()
        let api = auth.client(.nginx)
        let run = try await api.createRun(e2eUniqueID("exp"), as: auth.writer)
        // Long enough that the stream starts before it expires even on a loaded machine.
        let token = try await api.streamToken(run, as: auth.reader, ttl: 5)
        let stream = try api.stream(run, query: "?access_token=\(token)")
        #expect(await stream.wait(timeout: .seconds(30)) { $0.events.count == 1 }, "\(stream.text)")
        // Past the expiry (a lower bound only: the token has at most 5 s, plus the second it was made in).
        try await Task.sleep(for: .milliseconds(6500))
        let reconnect = try await api.request("GET", "/v1/runs/\(run)/events?access_token=\(token)&last_event_id=1")
        #expect(reconnect.status == 401, "\(reconnect.text)")
        #expect(reconnect.errorCode == "unauthorized")
        #expect(e2eErrorMessage(reconnect)?.contains("expired") == true)
        _ = try await api.send("POST", "/v1/runs/\(run)/events", as: auth.writer, json: #"{"type":"after","data":{}}"#)
        #expect(await stream.wait(timeout: .seconds(30)) { $0.events.count == 2 }, "\(stream.text)")
        #expect(!stream.ended)
        // A fresh token resumes where the page left off.
        let fresh = try await api.streamToken(run, as: auth.reader)
        let resumed = try api.stream(run, query: "?access_token=\(fresh)&last_event_id=\(stream.events[0].id!)")
        #expect(await resumed.wait(timeout: .seconds(30)) { $0.events.count == 1 }, "\(resumed.text)")
        #expect(resumed.events.first?.event == "after")
    }
}
