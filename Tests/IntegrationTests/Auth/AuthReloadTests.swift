import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The tokens file and the signing key re-read on SIGHUP, a bad tokens file at start and on reload, and the
/// shipped web server configs keeping `access_token` out of their access logs.
@Suite("Auth: SIGHUP reload, bad files, access logs")
struct AuthReloadTests {
    @Test("SIGHUP with a stream open: the stream goes on, a new token works, a removed token gets 401")
    func reloadKeepsStreams() async throws {
        let auth = try AuthStack()
        let api = auth.client(.nginx)
        let run = try await api.createRun(e2eUniqueID("hup"), as: auth.writer)
        let stream = try api.stream(run, headers: [auth.reader.header])
        #expect(await stream.wait(timeout: .seconds(30)) { $0.events.count == 1 }, "\(stream.text)")

        let newcomer = try IssuedToken.issue("newcomer", scopes: "read")
        #expect(try await api.send("GET", "/v1/runs/\(run)", as: newcomer).status == 401)
        try auth.writeTokens([auth.writer, newcomer])  // the reader's line is gone
        auth.stack.responder.signal(SIGHUP)
        #expect(await pollUntil(timeout: .seconds(30)) { auth.stack.log.contains("reloaded the tokens file") }, "\(auth.stack.log)")
        #expect(try await api.send("GET", "/v1/runs/\(run)", as: newcomer).status == 200)
        let removed = try await api.send("GET", "/v1/runs/\(run)", as: auth.reader)
        #expect(removed.status == 401, "\(removed.text)")

        // The stream opened with the removed token was checked when it started and carries on.
        _ = try await api.send("POST", "/v1/runs/\(run)/events", as: auth.writer, json: #"{"type":"after.reload","data":{}}"#)
        #expect(await stream.wait(timeout: .seconds(30)) { $0.events.count == 2 }, "\(stream.text)")
        #expect(stream.events.last?.event == "after.reload")
        #expect(!stream.ended)
        #expect(auth.stack.responder.isRunning)
        // No secret in the log.
        for secret in [auth.reader.secret, auth.writer.secret, newcomer.secret] { #expect(!auth.stack.log.contains(secret)) }
    }

    @Test("a bad tokens file on SIGHUP keeps the tokens in force and logs the line")
    func badFileOnReloadKeepsOldTokens() async throws {
        let auth = try AuthStack()
        let api = auth.client(.nginx)
        let run = try await api.createRun(e2eUniqueID("bad"), as: auth.writer)
        try auth.writeTokens([auth.writer], extra: "broken read not-a-digest\n")
        auth.stack.responder.signal(SIGHUP)
        #expect(await pollUntil(timeout: .seconds(30)) { auth.stack.log.contains("cannot reload the tokens file") }, "\(auth.stack.log)")
        #expect(auth.stack.log.contains("line 3"), "\(auth.stack.log)")
        // The reader (not in the broken file) still works: nothing of the broken file was taken.
        #expect(try await api.send("GET", "/v1/runs/\(run)", as: auth.reader).status == 200)
        #expect(auth.stack.responder.isRunning)
    }

    @Test("rotating the signing key (SIGHUP) invalidates stream tokens made with the old key")
    func signingKeyRotation() async throws {
        let auth = try AuthStack()
        let api = auth.client(.nginx)
        let run = try await api.createRun(e2eUniqueID("rot"), as: auth.writer)
        _ = try await api.send("POST", "/v1/runs/\(run)/events", as: auth.writer, json: #"{"type":"run.completed","data":{}}"#)
        let old = try await api.streamToken(run, as: auth.reader)
        // A terminal run's stream replays and ends: a complete response.
        #expect(try await api.request("GET", "/v1/runs/\(run)/events?access_token=\(old)").status == 200)
        try auth.writeSigningKey(seed: 2)
        auth.stack.responder.signal(SIGHUP)
        #expect(await pollUntil(timeout: .seconds(30)) { auth.stack.log.contains("reloaded the signing key file") }, "\(auth.stack.log)")
        #expect(try await api.request("GET", "/v1/runs/\(run)/events?access_token=\(old)").status == 401)
        let new = try await api.streamToken(run, as: auth.reader)
        #expect(try await api.request("GET", "/v1/runs/\(run)/events?access_token=\(new)").status == 200)
    }

    @Test("a bad tokens file stops serve at start with the file and line; so does a short signing key")
    func badFilesAtStart() async throws {
        let files = try TemporaryDirectory(prefix: "authbad")
        let good = try IssuedToken.issue("good", scopes: "read")
        let cases: [(tokens: String, key: String?, expected: String)] = [
            ("# header\n\(good.line)\ngood2 read,fly \(String(repeating: "a", count: 64))\n", nil, "line 3"),
            ("\(good.line)\n\(good.line.replacingOccurrences(of: "good ", with: "twin "))\n", nil, "line 2"),
            ("x read \(String(repeating: "b", count: 64)) acme*-x\n", nil, "line 1"),
            ("\(good.line)\n", "short", "signing key file"),
        ]
        for (index, testCase) in cases.enumerated() {
            try testCase.tokens.write(toFile: files.file("tokens\(index)"), atomically: true, encoding: .utf8)
            var arguments = ["serve", "--journal", try files.makeDirectory("journal"), "--socket", files.file("s\(index).sock"),
                             "--auth-tokens", files.file("tokens\(index)")]
            if let key = testCase.key {
                try key.write(toFile: files.file("key\(index)"), atomically: true, encoding: .utf8)
                arguments += ["--signing-key-file", files.file("key\(index)")]
            }
            let process = try RunJournalProcess(arguments: arguments)
            let code = process.waitForExit(timeout: .seconds(60))
            #expect(code == 1, "case \(index): \(process.stderr)")
            #expect(process.stderr.contains(testCase.expected), "case \(index): \(process.stderr)")
            #expect(process.stderr.contains(files.file(testCase.key == nil ? "tokens\(index)" : "key\(index)")), "case \(index): \(process.stderr)")
        }
        let usage = try RunJournalProcess(arguments: ["token", "new", "x", "--scopes", "read,fly"])
        #expect(usage.waitForExit(timeout: .seconds(60)) == 2)
    }

    @Test("the shipped configs keep access_token out of the access log", arguments: WebServerFixture.Kind.allCases)
    func accessLogsHoldNoStreamTokens(kind: WebServerFixture.Kind) async throws {
        let auth = try AuthStack.shared()
        let api = auth.client(kind)
        let run = try await api.createRun(e2eUniqueID("log"), as: auth.writer)
        _ = try await api.send("POST", "/v1/runs/\(run)/events", as: auth.writer, json: #"{"type":"run.completed","data":{}}"#)
        let token = try await api.streamToken(run, as: auth.reader)
        // A terminal run: the stream replays and ends, so the web server logs the request now.
        let valid = try await api.request("GET", "/v1/runs/\(run)/events?last_event_id=0&access_token=\(token)")
        #expect(valid.status == 200, "\(valid.text)")
        let marker = "v1.99.zz.LEAKMARKER" + e2eUniqueID("m")
        _ = try await api.request("GET", "/v1/runs/\(run)/events?access_token=\(marker)")
        let logPath = auth.stack.server(kind).directory.file("access.log")
        let read = { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        #expect(await pollUntil(timeout: .seconds(30)) { read().components(separatedBy: "/v1/runs/\(run)/events").count >= 3 }, "\(read())")
        let log = read()
        #expect(!log.contains(token), "\(log)")
        #expect(!log.contains("LEAKMARKER"), "\(log)")
        #expect(!log.contains("access_token"), "\(log)")
        #expect(!log.contains(auth.reader.secret) && !log.contains(auth.writer.secret))
    }
}
