import Foundation
import Testing

/// Many streams at once: the `--max-streams` limit and its refusal, a disconnected client giving its stream
/// back, and one run fanned out to 200 streams. Each test has its own stack so the counts are its own.
@Suite("Stream: capacity, disconnects and fan-out")
struct StreamCapacityTests {
    typealias Kind = WebServerFixture.Kind

    /// Opens `count` streams on `run` and waits until each has its head and the replayed `run.created`.
    static func openStreams(_ api: E2EClient, _ run: String, count: Int) async throws -> [E2EConnection] {
        let streams = try (0..<count).map { _ in try api.stream(run) }
        let ready = await E2EConnection.pumpAll(streams, timeout: .seconds(60)) { $0.allSatisfy { $0.events.count >= 1 } }
        try #require(ready, "\(streams.filter { $0.events.isEmpty }.count) of \(count) streams did not start: \(streams.first { $0.events.isEmpty }?.text.prefix(300) ?? "")")
        return streams
    }

    /// Tries a new stream every quarter second until one is accepted (200); how long that took, or nil.
    static func waitForAFreeStream(_ api: E2EClient, _ run: String, timeout: Duration) async throws -> (Duration, E2EConnection)? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            let attempt = try api.stream(run)
            await attempt.wait(timeout: .seconds(10)) { $0.status != nil }
            if attempt.status == 200 && !isStreamLimitRefusal(attempt) { return (ContinuousClock.now - start, attempt) }
            attempt.close()
            try await Task.sleep(for: .milliseconds(250))
        }
        return nil
    }

    @Test("with --max-streams 50 the 51st stream gets the stream-limit refusal (retry: hint, comment, header, Retry-After) while create, append and show still answer")
    func refusesTheStreamOverTheLimitAndKeepsAnswering() async throws {
        let stack = try E2EStack(["--max-streams", "50", "--idle-timeout", "off"], kinds: [.nginx])
        let api = stack.client(.nginx)
        let run = try await api.createRun(id: "capacity")
        let streams = try await Self.openStreams(api, run, count: 50)

        let refused = try await api.request("GET", "/v1/runs/\(run)/events", headers: [("Accept", "text/event-stream")], timeout: .seconds(10))
        expectStreamLimitRefusal(refused)
        let retryAfter = try #require(refused.header("Retry-After").flatMap { Int($0) }, "Retry-After: \(refused.header("Retry-After") ?? "missing")")
        #expect(retryAfter > 0)

        // Short requests have threads of their own: each answers within a generous 10 s (request throws if not).
        let created = try await api.request("POST", "/v1/runs", timeout: .seconds(10))
        #expect(created.status == 201)
        let appended = try await api.request(
            "POST", "/v1/runs/\(run)/events", headers: [("Content-Type", "application/json")], body: Array(#"{"type":"step"}"#.utf8),
            timeout: .seconds(10))
        #expect(appended.status == 201)
        let shown = try await api.request("GET", "/v1/runs/\(run)", timeout: .seconds(10))
        #expect(shown.status == 200)
        let listed = try await api.request("GET", "/v1/runs", timeout: .seconds(10))
        #expect(listed.status == 200)

        let delivered = await E2EConnection.pumpAll(streams, timeout: .seconds(30)) { $0.allSatisfy { $0.events.count == 2 } }
        #expect(delivered, "the event reached \(streams.filter { $0.events.count == 2 }.count) of 50 streams")
    }

    /// nginx closes its upstream connection as soon as its client goes (fastcgi_ignore_client_abort is off),
    /// and the responder notices the hang-up at once: the stream comes back well before the default 15 s
    /// heartbeat could have found it. lighttpd makes no such promise for a backend connection, so there the
    /// heartbeat is the guarantee and the test runs with `--heartbeat 1`. (lighttpd 1.4.69 with
    /// `server.stream-response-body = 2` was in fact seen closing the backend at once too; the bound below
    /// does not depend on it.)
    @Test("a client that disconnects gives its stream back: through nginx by hang-up detection, through lighttpd at the latest by the next heartbeat",
          arguments: Kind.allCases)
    func aDisconnectedClientFreesItsStream(kind: Kind) async throws {
        let heartbeat = kind == .nginx ? [] : ["--heartbeat", "1"]
        let stack = try E2EStack(["--max-streams", "50", "--idle-timeout", "off"] + heartbeat, kinds: [kind])
        let api = stack.client(kind)
        let run = try await api.createRun(id: "disconnect")
        let streams = try await Self.openStreams(api, run, count: 50)
        let refused = try await api.request("GET", "/v1/runs/\(run)/events", timeout: .seconds(10))
        try #require(isStreamLimitRefusal(refused), "\(refused.text)")

        streams[0].close()
        // nginx: well under the 15 s default heartbeat, so only hang-up detection can explain it.
        // lighttpd: a few heartbeats of 1 s, generously.
        let bound: Duration = kind == .nginx ? .seconds(10) : .seconds(20)
        let freed = try await Self.waitForAFreeStream(api, run, timeout: bound)
        let (elapsed, replacement) = try #require(freed, "no stream was freed within \(bound) of a client disconnecting through \(kind)")
        #expect(await replacement.wait(timeout: .seconds(10)) { $0.events.count == 1 })
        #expect(streams.dropFirst().allSatisfy { !$0.ended }, "other streams were closed")
        // Exactly one came back: the limit holds again.
        let again = try await api.request("GET", "/v1/runs/\(run)/events", timeout: .seconds(10))
        #expect(isStreamLimitRefusal(again), "after \(elapsed): \(again.status.map(String.init) ?? "none") \(again.text.prefix(300))")
    }

    @Test("200 streams on one run each receive every event, in order", arguments: Kind.allCases)
    func fansOutToTwoHundredStreams(kind: Kind) async throws {
        let stack = try E2EStack(["--idle-timeout", "off"], kinds: [kind])
        let api = stack.client(kind)
        let run = try await api.createRun(id: "fanout")
        let streams = try await Self.openStreams(api, run, count: 200)
        for index in 1...50 { try await api.append(run, "step", #"{"n":\#(index)}"#) }
        let expected = E2EJournalLine.read(stack.journalDirectory, run).map { SSEFrameRecord(id: $0.seq, event: $0.type, data: $0.data) }
        try #require(expected.count == 51)
        let delivered = await E2EConnection.pumpAll(streams, timeout: .seconds(90)) { $0.allSatisfy { $0.events.count >= 51 } }
        #expect(delivered, "all 51 events reached \(streams.filter { $0.events.count >= 51 }.count) of 200 streams")
        for (index, stream) in streams.enumerated() where stream.events != expected {
            Issue.record("stream \(index) received \(stream.events.map(\.description))")
            break
        }
        try await api.append(run, "run.completed")
        let closed = await E2EConnection.pumpAll(streams, timeout: .seconds(60)) { $0.allSatisfy(\.ended) }
        #expect(closed, "\(streams.filter { !$0.ended }.count) streams stayed open after run.completed")
        #expect(streams.allSatisfy { $0.events.last?.event == "run.completed" && $0.failure == nil })
    }
}
