import Foundation
import Testing
import RunsAPI
import FastCGIServer

/// Persistent connections from nginx (`fastcgi_keep_conn on` + upstream `keepalive` in the shipped
/// deploy/nginx.conf): many requests per accepted connection, nothing left over on a connection for the
/// next request to trip on, and a stop that does not wait for the web server to let its idle connections go.
@Suite struct KeptConnectionTests {
    @Test func servesManySequentialRequestsPerAcceptedConnection() async throws {
        try await ServerHarness.with(handler: ClosureHandler(echoResponse)) { harness in
            for index in 0..<40 {
                let result = try await HTTPClient.fetch(harness.url("/v1/runs/r\(index)"))
                #expect(result.status == 200)
            }
            // The counters move just after the response went out: poll.
            #expect(await pollUntil(timeout: .seconds(5)) {
                let statistics = harness.server.statistics
                return statistics.requestsServed == 40 && statistics.activeRequests == 0 && statistics.keptConnections >= 1
            })
            // At most one connection per nginx worker process (one per core), however many requests.
            let statistics = harness.server.statistics
            #expect(statistics.connectionsAccepted <= min(nginxWorkerProcesses, 20), "\(statistics)")
        }
    }

    /// A 413 answered from Content-Length leaves the body unread on the connection. The rest of it is read
    /// and dropped, so the connection stays usable; left there, it would be misread as the start of the next
    /// request and libfcgi would drop the connection (with that request on it, if nginx had already sent it).
    @Test func aBodyLeftUnreadIsDrainedAndTheConnectionKept() async throws {
        try await ServerHarness.with(configure: { $0.maxBodyBytes = 1000 }, handler: ClosureHandler(echoResponse)) { harness in
            let rounds = max(10, 2 * nginxWorkerProcesses)
            for round in 0..<rounds {
                let refused = try await HTTPClient.fetch("POST", harness.url("/v1/runs"), body: Array(repeating: 0x41, count: 20_000))
                #expect(refused.status == 413)
                #expect(refused.errorCode == "payload_too_large")
                try await expectEcho(of: "round \(round)", through: harness)
            }
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.requestsServed == 2 * rounds })
            // A connection closed after each 413 would make at least one new connection per round.
            let statistics = harness.server.statistics
            #expect(statistics.connectionsAccepted <= nginxWorkerProcesses, "\(statistics)")
        }
    }

    /// Beyond the drain limit the connection is closed instead, and the next request gets a new one.
    @Test func aBodyTooLongToDrainClosesTheConnectionCleanly() async throws {
        try await ServerHarness.with(configure: { $0.maxBodyBytes = 1000 }, handler: ClosureHandler(echoResponse)) { harness in
            var accepted = harness.server.statistics.connectionsAccepted
            for round in 0..<4 {
                let refused = try await HTTPClient.fetch("POST", harness.url("/v1/runs"), body: Array(repeating: 0x41, count: 300_000))
                #expect(refused.status == 413)
                for index in 0..<3 { try await expectEcho(of: "round \(round) request \(index)", through: harness) }
                // The connection that carried the 413 was closed: the echoes needed a new one.
                let now = harness.server.statistics.connectionsAccepted
                #expect(now > accepted, "round \(round): no new connection after an undrainable body")
                accepted = now
            }
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.requestsServed == 16 })
        }
    }

    /// nginx runs `worker_processes auto`: one per core, each with its own connection cache.
    private var nginxWorkerProcesses: Int { ProcessInfo.processInfo.activeProcessorCount }

    private func expectEcho(of text: String, through harness: ServerHarness) async throws {
        let echoed = try await HTTPClient.fetch("POST", harness.url("/v1/runs/next"), body: Array(text.utf8))
        #expect(echoed.status == 200)
        let seen = try #require(echoed.json as? [String: Any], "not JSON: \(echoed.text)")
        #expect(seen["body"] as? String == text)
    }

    @Test func aStreamThatEndsLeavesItsConnectionUsable() async throws {
        try await ServerHarness.with(handler: ClosureHandler { request in
            guard request.path.hasSuffix("/events") else { return echoResponse(request) }
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream")], body: .stream { writer in
                try writer.write(Array("data: one\n\n".utf8))
                try writer.flush()
            })
        }) { harness in
            for _ in 0..<5 {
                let stream = try HTTPStream(harness.url("/v1/runs/a/events"))
                #expect(await stream.ended(within: .seconds(10)))
                #expect(stream.received.contains("data: one"))
                let next = try await HTTPClient.fetch(harness.url("/v1/runs/a"))
                #expect(next.status == 200)
            }
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.requestsServed == 10 })
            let statistics = harness.server.statistics
            #expect(statistics.connectionsAccepted < statistics.requestsServed)
        }
    }

    /// nginx keeps idle connections for a minute; a stop closes them at once instead of waiting for them
    /// (or for the grace period, which is only for requests in flight).
    @Test func stopClosesIdleKeptConnectionsAtOnce() async throws {
        let harness = try ServerHarness(configure: { $0.stopGracePeriod = .seconds(30) }, handler: ClosureHandler(echoResponse))
        for index in 0..<10 {
            let result = try await HTTPClient.fetch(harness.url("/v1/runs/r\(index)"))
            #expect(result.status == 200)
        }
        #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.keptConnections >= 1 })
        let started = ContinuousClock.now
        harness.server.stop()
        #expect(await harness.waitForRunToReturn(timeout: .seconds(20)))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(harness.server.statistics.workerThreads == 0)
        await harness.web?.stopped()
    }

    /// An idle kept connection is nginx's cache, not a request: it must not take a slot of
    /// `maxConcurrentRequests`, or requests are refused while workers sit idle.
    @Test func idleKeptConnectionsTakeNoRequestCapacity() async throws {
        try await ServerHarness.with(configure: { $0.maxConcurrentRequests = 2 }, handler: ClosureHandler { request in
            usleep(100_000)
            return echoResponse(request)
        }) { harness in
            for round in 0..<8 {
                // A worker counts as busy until just after its response went out: let the last round's finish.
                #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.activeRequests == 0 })
                let results = try await HTTPClient.parallelGET((0..<2).map { harness.url("/v1/runs/r\(round)-\($0)") }, maxParallel: 2)
                #expect(results.map(\.status) == [200, 200], "round \(round): \(harness.server.statistics)")
            }
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.keptConnections >= 1 })
        }
    }

    /// A connection nginx keeps but never uses again (or whose peer vanished without closing it) is closed
    /// after `keptConnectionIdleTimeout`, and its worker freed.
    @Test func anIdleKeptConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await ServerHarness.with(configure: {
            $0.keptConnectionIdleTimeout = .milliseconds(500)
            $0.spareWorkerLimit = 0
        }, handler: ClosureHandler(echoResponse)) { harness in
            let first = try await HTTPClient.fetch(harness.url("/v1/runs/a"))
            #expect(first.status == 200)
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.keptConnections == 1 })
            #expect(await pollUntil(timeout: .seconds(10)) {
                let statistics = harness.server.statistics
                return statistics.keptConnections == 0 && statistics.workerThreads == 0
            })
            // nginx notices the closed connection in its cache and opens a new one.
            let second = try await HTTPClient.fetch(harness.url("/v1/runs/b"))
            #expect(second.status == 200)
        }
    }

    /// lighttpd's mod_fastcgi never asks to keep a connection: one connection per request, none parked.
    @Test func lighttpdGetsAConnectionPerRequest() async throws {
        try await ServerHarness.with(behind: .lighttpd, handler: ClosureHandler(echoResponse)) { harness in
            for index in 0..<5 {
                let result = try await HTTPClient.fetch(harness.url("/v1/runs/r\(index)"))
                #expect(result.status == 200)
            }
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.activeRequests == 0 })
            let statistics = harness.server.statistics
            #expect(statistics.keptConnections == 0)
            #expect(statistics.connectionsAccepted == statistics.requestsServed)
        }
    }
}
