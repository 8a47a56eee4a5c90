import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// "Safe to put on a network", the hardening part, through the real binary and nginx: what the store
/// creates is private to the service's user and group, a symlinked journal is refused, error bodies name
/// no filesystem path, a TCP listener nobody guards is warned about, request bodies in flight are bounded
/// as a whole, and nginx caps the streams of one client address.
@Suite("Hardening: file modes, symlinks, path-free errors, listen warning, body budget, per-client streams")
struct HardeningTests {
    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    static func octal(_ mode: mode_t?) -> String { mode.map { String($0, radix: 8) } ?? "missing" }

    /// Creates a run with an id, one without an id but with an Idempotency-Key (which makes `.create-keys/`),
    /// lists (which writes `.runs.index`) and returns the journal directory's entries with their modes.
    static func exerciseCreatedFiles(_ stack: E2EStack) async throws -> [String: mode_t] {
        let api = stack.client(.nginx)
        try await api.createRun(id: "modes")
        try await api.append("modes", "step")
        let keyed = try await api.request("POST", "/v1/runs", headers: [("Idempotency-Key", "keyed-create")])
        try #require(keyed.status == 201, "\(keyed.text)")
        let listed = try await api.get("/v1/runs")
        try #require(listed.status == 200)
        let index = stack.journalDirectory + "/.runs.index"
        try #require(waitUntil(timeout: .seconds(30)) { access(index, F_OK) == 0 }, "no index was written")
        var modes: [String: mode_t] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: stack.journalDirectory) {
            modes[name] = mode(stack.journalDirectory + "/" + name)
        }
        modes["."] = mode(stack.journalDirectory)
        return modes
    }

    @Test("by default serve creates a missing journal directory 0750, and journals, the index and .create-keys are 0640 / 0750")
    func defaultModes() async throws {
        let parent = try TemporaryDirectory(prefix: "modes")
        let stack = try E2EStack(kinds: [.nginx], journalDirectory: parent.file("journal"))
        stack.retain(parent)
        let modes = try await Self.exerciseCreatedFiles(stack)
        #expect(modes["."] == 0o750, "journal directory: \(Self.octal(modes["."]))")
        #expect(modes["modes.jsonl"] == 0o640, "journal: \(Self.octal(modes["modes.jsonl"]))")
        #expect(modes[".runs.index"] == 0o640, "index: \(Self.octal(modes[".runs.index"]))")
        #expect(modes[".create-keys"] == 0o750, ".create-keys: \(Self.octal(modes[".create-keys"]))")
        let journals = modes.filter { $0.key.hasSuffix(".jsonl") }
        #expect(journals.count == 2 && journals.values.allSatisfy { $0 == 0o640 }, "\(journals.mapValues { Self.octal($0) })")
        #expect(!modes.keys.contains { $0.hasPrefix(".create-") && $0.hasSuffix(".tmp") }, "temporary files left: \(modes.keys)")
    }

    @Test("--journal-file-mode 0600 and --journal-dir-mode 0700 are applied exactly, whatever the umask")
    func configuredModes() async throws {
        let parent = try TemporaryDirectory(prefix: "modes")
        let stack = try E2EStack(
            ["--journal-file-mode", "0600", "--journal-dir-mode", "0700"], kinds: [.nginx], journalDirectory: parent.file("journal"))
        stack.retain(parent)
        let modes = try await Self.exerciseCreatedFiles(stack)
        #expect(modes["."] == 0o700, "journal directory: \(Self.octal(modes["."]))")
        #expect(modes[".create-keys"] == 0o700)
        #expect(modes[".runs.index"] == 0o600)
        let journals = modes.filter { $0.key.hasSuffix(".jsonl") }
        #expect(journals.count == 2 && journals.values.allSatisfy { $0 == 0o600 }, "\(journals.mapValues { Self.octal($0) })")
    }

    @Test("a bad --journal-file-mode is refused at start")
    func badModeIsRefused() throws {
        let directory = try TemporaryDirectory(prefix: "modes")
        let serve = try RunJournalProcess(
            arguments: ["serve", "--journal", directory.path, "--socket", directory.file("s"), "--journal-file-mode", "0648"], directory: directory)
        let status = serve.waitForExit(timeout: .seconds(60))
        #expect(status != nil && status != 0)
        #expect(serve.stderr.contains("--journal-file-mode"), "\(serve.stderr)")
    }

    @Test("a journal that is a symbolic link is refused with an error that says so; the body names no path, the log does")
    func symlinkedJournalIsRefused() async throws {
        let stack = try E2EStack(kinds: [.nginx])
        let api = stack.client(.nginx)
        try await api.createRun(id: "real")
        let outside = try TemporaryDirectory(prefix: "outside")
        stack.retain(outside)
        let target = outside.file("real.jsonl")
        try #require(rename(stack.journalDirectory + "/real.jsonl", target) == 0)
        try #require(symlink(target, stack.journalDirectory + "/linked.jsonl") == 0)
        let sizeBefore = try #require(FileManager.default.attributesOfItem(atPath: target)[.size] as? Int)

        for response in [
            try await api.get("/v1/runs/linked"),
            try await api.post("/v1/runs/linked/events", json: #"{"type":"step"}"#),
            try await api.get("/v1/runs/linked/events"),
        ] {
            #expect(response.status == 500, "\(response.status.map(String.init) ?? "none") \(response.text)")
            #expect(response.errorCode == "io_error")
            e2eExpectErrorShape(response)
            #expect(response.text.contains("symbolic link"), "the message should say why: \(response.text)")
            #expect(!response.text.contains("/tmp") && !response.text.contains(".jsonl"), "a path in the body: \(response.text)")
        }
        #expect((try FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) == sizeBefore, "the link's target was written")
        let listed = try await api.get("/v1/runs")
        #expect(listed.status == 200, "\(listed.text)")
        #expect(!listed.text.contains("linked"), "a symlinked journal is not a run: \(listed.text)")
        #expect(stack.log.contains(stack.journalDirectory + "/linked.jsonl"), "the log should name the path: \(stack.log.suffix(2000))")
    }

    @Test("--listen on a non-loopback address without auth logs a warning at start; loopback does not")
    func warnsAboutAnUnguardedListener() async throws {
        let directory = try TemporaryDirectory(prefix: "listen")
        let journal = try directory.makeDirectory("journal")
        // 192.0.2.1 (TEST-NET-1) is never configured here: the warning comes first, then the bind fails,
        // so nothing ever listens beyond loopback.
        let exposed = try RunJournalProcess(arguments: ["serve", "--journal", journal, "--listen", "192.0.2.1:9"], directory: directory)
        _ = exposed.waitForExit(timeout: .seconds(60))
        #expect(exposed.stderr.contains("non-loopback address without authentication"), "\(exposed.stderr)")

        let loopbackLog = try TemporaryDirectory(prefix: "listen")
        let loopback = try RunJournalProcess(arguments: ["serve", "--journal", journal, "--listen", "127.0.0.1:0"], directory: loopbackLog)
        defer { loopback.stop() }
        #expect(waitUntil(timeout: .seconds(60)) { loopback.stderr.contains("FastCGI responder listening") || !loopback.isRunning }, "\(loopback.stderr)")
        #expect(loopback.isRunning, "\(loopback.stderr)")
        #expect(!loopback.stderr.contains("without authentication"), "\(loopback.stderr)")
    }

    /// An append of about `bytes` bytes (one event with a long string).
    static func bigAppend(_ run: String, bytes: Int) -> (method: String, target: String, headers: [(String, String)], body: [UInt8]?) {
        let body = Array(#"{"type":"big","data":{"s":""#.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: bytes) + Array(#""}}"#.utf8)
        return ("POST", "/v1/runs/\(run)/events", [("Content-Type", "application/json")], body)
    }

    @Test("bodies in flight are bounded as a whole: with --body-budget for three bodies, five more concurrent ones get 503 + Retry-After, the three succeed, and the budget comes back")
    func bodyBudgetBoundsConcurrentBodies() async throws {
        let stack = try E2EStack(["--body-budget", "1000000", "--max-body", "400000"], kinds: [.nginx])
        let api = stack.client(.nginx)
        let run = try await api.createRun(id: "budget")
        let journal = stack.journalDirectory + "/budget.jsonl"

        // Hold the journal's lock: the appends that got their bodies wait for it, holding their reservations.
        let lockFD = open(journal, O_RDONLY)
        try #require(lockFD >= 0)
        var locked = true
        defer { if locked { _ = flock(lockFD, LOCK_UN) }; close(lockFD) }
        try #require(flock(lockFD, LOCK_EX) == 0)

        let connections = try (0..<8).map { _ in
            let request = Self.bigAppend(run, bytes: 300_000)
            return try E2EConnection(port: stack.port(.nginx), method: request.method, target: request.target, headers: request.headers, body: request.body)
        }
        let fiveRefused = await E2EConnection.pumpAll(connections, timeout: .seconds(120)) { $0.filter(\.ended).count >= 5 }
        try #require(fiveRefused, "statuses: \(connections.map { $0.status.map(String.init) ?? "pending" })")
        #expect(someoneWaitsForFlock(on: journal), "an admitted append should be waiting for the journal lock")
        let refused = connections.filter(\.ended)
        #expect(refused.count == 5, "statuses: \(connections.map { $0.status.map(String.init) ?? "pending" })")
        for response in refused {
            #expect(response.status == 503, "\(response.text)")
            #expect(response.errorCode == "server_busy")
            e2eExpectErrorShape(response)
            #expect(response.header("Retry-After").flatMap { Int($0) }.map { $0 > 0 } == true)
        }

        _ = flock(lockFD, LOCK_UN)
        locked = false
        let admitted = connections.filter { !$0.ended }
        let done = await E2EConnection.pumpAll(admitted, timeout: .seconds(120)) { $0.allSatisfy(\.ended) }
        #expect(done)
        #expect(admitted.allSatisfy { $0.status == 201 }, "\(admitted.map { "\($0.status.map(String.init) ?? "pending") \($0.text.prefix(200))" })")

        // Everything was given back: three bodies fit again at once.
        let again = try await api.concurrently((0..<3).map { _ in Self.bigAppend(run, bytes: 300_000) }, timeout: .seconds(120))
        #expect(again.allSatisfy { $0.status == 201 }, "\(again.map { "\($0.status.map(String.init) ?? "pending") \($0.text.prefix(200))" })")
        #expect(stack.log.contains("request bodies in flight at the body budget"))
    }

    @Test("nginx caps streams per client address: one over limit_conn gets the retry answer, appends are not counted, a freed slot is taken")
    func nginxCapsStreamsPerClient() async throws {
        let stack = try E2EStack(
            ["--idle-timeout", "off"], kinds: [.nginx],
            configEdits: [("limit_conn runjournal_streams_per_client 256;", "limit_conn runjournal_streams_per_client 2;")])
        let api = stack.client(.nginx)
        let run = try await api.createRun(id: "per-client")
        let streams = try await StreamCapacityTests.openStreams(api, run, count: 2)

        let refused = try await api.request("GET", "/v1/runs/\(run)/events", headers: [("Accept", "text/event-stream")], timeout: .seconds(30))
        expectStreamLimitRefusal(refused, reason: "client-stream-limit")
        // POSTs on the same route and other requests are not limited.
        for _ in 0..<3 { try await api.append(run, "step") }
        #expect(try await api.get("/v1/runs/\(run)").status == 200)

        streams[0].close()
        var admitted: E2EConnection?
        for _ in 0..<240 where admitted == nil {
            let attempt = try api.stream(run)
            await attempt.wait(timeout: .seconds(10)) { $0.status != nil }
            if attempt.status == 200 && attempt.header("X-RunJournal-Refused") == nil { admitted = attempt } else { attempt.close() }
            if admitted == nil { try await Task.sleep(for: .milliseconds(250)) }
        }
        let replacement = try #require(admitted, "no stream got in after one was closed")
        #expect(await replacement.wait(timeout: .seconds(30)) { $0.events.count >= 4 })
    }
}
