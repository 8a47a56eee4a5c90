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
            let statistics = harness.server.statistics
            #expect(statistics.requestsServed == 40)
            // One connection per nginx worker process that took a request, however many requests.
            #expect(statistics.connectionsAccepted * 5 <= statistics.requestsServed, "\(statistics)")
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.keptConnections >= 1 })
            #expect(harness.server.statistics.activeRequests == 0)
        }
    }

    /// A 413 answered from Content-Length leaves the body unread on the connection. The rest of it is read
    /// and dropped, so the connection stays usable; left there, it would be misread as the start of the next
    /// request and libfcgi would drop the connection (with that request on it, if nginx had already sent it).
    @Test func aBodyLeftUnreadIsDrainedAndTheConnectionKept() async throws {
        try await ServerHarness.with(configure: { $0.maxBodyBytes = 1000 }, handler: ClosureHandler(echoResponse)) { harness in
            let rounds = 10
            for round in 0..<rounds {
                let refused = try await HTTPClient.fetch("POST", harness.url("/v1/runs"), body: Array(repeating: 0x41, count: 20_000))
                #expect(refused.status == 413)
                #expect(refused.errorCode == "payload_too_large")
                try await expectEcho(of: "round \(round)", through: harness)
            }
            let statistics = harness.server.statistics
            #expect(statistics.requestsServed == 2 * rounds)
            // A connection closed after each 413 would make at least one new connection per round.
            #expect(statistics.connectionsAccepted < rounds, "\(statistics)")
        }
    }

    /// Beyond the drain limit the connection is closed instead, and the next request gets a new one.
    @Test func aBodyTooLongToDrainClosesTheConnectionCleanly() async throws {
        try await ServerHarness.with(configure: { $0.maxBodyBytes = 1000 }, handler: ClosureHandler(echoResponse)) { harness in
            for round in 0..<4 {
                let refused = try await HTTPClient.fetch("POST", harness.url("/v1/runs"), body: Array(repeating: 0x41, count: 300_000))
                #expect(refused.status == 413)
                for index in 0..<3 { try await expectEcho(of: "round \(round) request \(index)", through: harness) }
            }
            #expect(harness.server.statistics.requestsServed == 16)
        }
    }

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
            let statistics = harness.server.statistics
            #expect(statistics.requestsServed == 10)
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
