import Foundation
import Testing

/// What an operator watches, through real nginx: `/healthz`, `/readyz` (ready, at the stream cap, with a failed
/// journal), the request log line and the log level.
@Suite("Operations: health endpoints, request log, log level")
struct OperationsEndpointTests {
    typealias Kind = WebServerFixture.Kind

    static func json(_ response: E2EConnection) -> [String: Any] { (response.json as? [String: Any]) ?? [:] }

    @Test("GET /healthz and /readyz answer tiny JSON without auth; other methods get 405")
    func healthAndReadiness() async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(.nginx)
        let health = try await api.get("/healthz")
        #expect(health.status == 200)
        #expect(health.header("Content-Type") == "application/json")
        #expect(health.text.hasSuffix(#"{"status":"ok"}"# + "\n"), "\(health.text)")
        let ready = try await api.get("/readyz")
        #expect(ready.status == 200, "\(ready.text)")
        #expect(ready.text.hasSuffix(#"{"status":"ready"}"# + "\n"), "\(ready.text)")
        let posted = try await api.post("/healthz")
        #expect(posted.status == 405)
        #expect(posted.header("Allow") == "GET")
    }

    @Test("/readyz is 503 while the stream cap is reached and 200 again once a stream ends")
    func readinessAtTheStreamCap() async throws {
        let stack = try E2EStack(["--max-streams", "1", "--idle-timeout", "off"], kinds: [.nginx])
        let api = stack.client(.nginx)
        let run = try await api.createRun(id: "capped")
        let stream = try api.stream(run)
        try #require(await stream.wait(timeout: .seconds(30)) { $0.events.count >= 1 }, "\(stream.text.prefix(300))")

        let busy = try await api.get("/readyz")
        #expect(busy.status == 503, "\(busy.text)")
        #expect(Self.json(busy)["status"] as? String == "not_ready")
        let reasons = Self.json(busy)["reasons"] as? [String] ?? []
        #expect(reasons.count == 1 && reasons[0].contains("stream cap (1 of 1"), "\(reasons)")

        stream.close()
        var readyAgain = false
        for _ in 0..<240 where !readyAgain {
            readyAgain = try await api.get("/readyz").status == 200
            if !readyAgain { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(readyAgain, "still not ready after the stream ended: \(stack.log.suffix(2000))")
    }

    @Test("/readyz is 503 naming the run when a journal was left failed (its marker), without any path")
    func readinessWithAFailedJournal() async throws {
        let directory = try TemporaryDirectory(prefix: "ready")
        let journal = try directory.makeDirectory("journal")
        for id in ["healthy", "broken"] {
            let created = try OpsCLI.run(["create", "--journal", journal, "--id", id])
            try #require(created.status == 0, "\(created)")
        }
        // What a responder that saw fdatasync fail with EIO leaves beside the journal.
        try #"{"operation":"fdatasync","errno":5,"durable_size":0}"#.write(
            toFile: journal + "/broken.jsonl.failed", atomically: true, encoding: .utf8)
        let stack = try E2EStack(kinds: [.nginx], journalDirectory: journal)
        stack.retain(directory)
        let api = stack.client(.nginx)

        let response = try await api.get("/readyz")
        #expect(response.status == 503, "\(response.text)")
        let reasons = Self.json(response)["reasons"] as? [String] ?? []
        #expect(reasons.count == 1 && reasons[0].contains("1 journal(s) failed") && reasons[0].contains("broken"), "\(reasons)")
        #expect(!reasons[0].contains("healthy"))
        #expect(!response.text.contains(journal), "a filesystem path in the body: \(response.text)")
        #expect(try await api.get("/healthz").status == 200, "liveness does not depend on journals")

        // Repaired, the responder is ready again without a restart.
        let repaired = try OpsCLI.run(["verify", "--journal", journal, "--repair", "broken"])
        try #require(repaired.status == 0 || repaired.status == 1, "\(repaired)")
        #expect(!FileManager.default.fileExists(atPath: journal + "/broken.jsonl.failed"), "\(repaired)")
        let after = try await api.get("/readyz")
        #expect(after.status == 200, "\(after.text)")
    }

    /// The responder's request log lines (those with the `request` message).
    static func requestLines(_ log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { $0.hasSuffix(" request") && $0.contains("route=") }
    }

    @Test("one info line per request: method, route pattern, status, duration, run id; never the query")
    func requestLogLine() async throws {
        let stack = try E2EStack(["--idle-timeout", "off"], kinds: [.nginx])
        let api = stack.client(.nginx)
        let run = try await api.createRun(id: "logged")
        let appended = try await api.post("/v1/runs/\(run)/events?access_token=sekrit-query-value", json: #"{"type":"step"}"#)
        #expect(appended.status == 201)
        let missing = try await api.get("/no/such/secret-path-value")
        #expect(missing.status == 404)
        let stream = try api.stream(run)
        try #require(await stream.wait(timeout: .seconds(30)) { $0.events.count >= 2 }, "\(stream.text.prefix(300))")
        stream.close()

        // A request's line is written once it is answered; a stream's when it ends.
        var lines: [String] = []
        let complete = waitUntil(timeout: .seconds(60)) {
            lines = Self.requestLines(stack.log)
            return lines.count >= 4 && lines.contains { $0.contains("method=GET") && $0.contains("route=/v1/runs/:id/events") }
        }
        #expect(complete, "\(stack.log.suffix(3000))")
        let append = try #require(lines.first { $0.contains("method=POST") && $0.contains("route=/v1/runs/:id/events") }, "\(lines)")
        #expect(append.contains(" info "), "\(append)")
        #expect(append.contains("status=201") && append.contains("run_id=logged") && append.contains("duration_ms="), "\(append)")
        let create = try #require(lines.first { $0.contains("route=/v1/runs ") || $0.hasSuffix("route=/v1/runs") || $0.contains("route=/v1/runs status") }, "\(lines)")
        #expect(create.contains("method=POST") && create.contains("status=201"), "\(create)")
        let unmatched = try #require(lines.first { $0.contains("status=404") }, "\(lines)")
        #expect(unmatched.contains("route=(unmatched)"), "\(unmatched)")
        let streamed = try #require(lines.first { $0.contains("method=GET") && $0.contains("route=/v1/runs/:id/events") }, "\(lines)")
        #expect(streamed.contains("status=200") && streamed.contains("run_id=logged"), "\(streamed)")
        #expect(!stack.log.contains("sekrit-query-value"), "the query reached the log")
        #expect(!stack.log.contains("secret-path-value"), "a raw path reached the log")
    }

    @Test("log level: RUNJOURNAL_LOG_LEVEL=warning silences info lines; --log-level info beats it")
    func logLevel() async throws {
        for (flags, expectInfo) in [([String](), false), (["--log-level", "info"], true)] {
            let directory = try TemporaryDirectory(prefix: "loglevel")
            defer { directory.remove() }
            let journal = try directory.makeDirectory("journal")
            let socket = directory.file("rj.sock")
            let server = try RunJournalProcess(
                arguments: ["serve", "--journal", journal, "--socket", socket] + flags, directory: directory,
                environment: ChildProcess.inheritedEnvironment.merging(["RUNJOURNAL_LOG_LEVEL": "warning"]) { $1 })
            try #require(waitUntil(timeout: .seconds(30)) { !server.isRunning || UnixSocketProbe.isAccepting(socket) }, "\(server.stderr)")
            let web = try WebServerFixture.start(.nginx, socketPath: socket)
            defer { web.stop(); web.directory.remove() }
            let health = try await E2EClient(port: web.port).get("/healthz")
            #expect(health.status == 200)
            if expectInfo {
                #expect(waitUntil(timeout: .seconds(30)) { server.stderr.contains("route=/healthz") }, "\(server.stderr)")
            }
            #expect(server.stop() == 0)
            let log = server.stderr
            #expect(log.contains("route=/healthz") == expectInfo, "\(flags): \(log)")
            #expect(log.contains("serving runs API") == expectInfo, "\(flags): \(log)")
        }
    }
}
