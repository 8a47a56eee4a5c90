import Foundation
import RunJournal
import Testing
import RunsAPI
import FastCGIServer
import SystemSupport

/// `.stream` responses (SSE) through the real web servers.
@Suite struct StreamingTests {
    private static let sseHeaders: [(name: String, value: String)] = [
        ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
    ]

    /// A stream that sends `first`, then waits for `gate` (or a hang-up) before sending `second`.
    private func gatedStream(first: String, second: String, gate: Gate) -> HTTPResponse {
        HTTPResponse(status: 200, headers: Self.sseHeaders, body: .stream { writer in
            try writer.write(Array(first.utf8))
            try writer.flush()
            let observation = writer.observeHangup { gate.open() }
            defer { observation?.cancel() }
            gate.wait(timeout: .seconds(30))
            try writer.write(Array(second.utf8))
            try writer.flush()
        })
    }

    @Test(arguments: WebServerFixture.Kind.allCases)
    func deliversEachFlushedFrameBeforeTheStreamEnds(kind: WebServerFixture.Kind) async throws {
        let gate = Gate()
        try await ServerHarness.with(behind: kind, handler: ClosureHandler { _ in
            gatedStream(first: "id: 1\ndata: one\n\n", second: "id: 2\ndata: two\n\n", gate: gate)
        }) { harness in
            let stream = try HTTPStream(harness.url("/v1/runs/abc/events"))
            // The first frame arrives while the handler is still parked on the gate: nothing buffers it.
            #expect(await stream.receive(until: { $0.contains("data: one\n\n") }, timeout: .seconds(10)))
            #expect(!stream.received.contains("two"))
            #expect(stream.head.status == 200)
            #expect(stream.head.header("Content-Type") == "text/event-stream")
            gate.open()
            #expect(await stream.receive(until: { $0.contains("data: two\n\n") }, timeout: .seconds(10)))
            #expect(await stream.ended(within: .seconds(10)))
        }
    }

    /// nginx closes the upstream connection as soon as its client goes; the hang-up monitor sees that
    /// while the stream writes nothing. (lighttpd 1.4.69 keeps the backend open until it fails to write
    /// to the client: see the test below.)
    @Test func noticesAClientHangUpWhileTheStreamIsIdle() async throws {
        let kind = WebServerFixture.Kind.nginx
        let hungUp = Gate()
        let writeAfterHangUp = LockedValue<String>("not attempted")
        let ended = Gate()
        try await ServerHarness.with(behind: kind, handler: ClosureHandler { _ in
            HTTPResponse(status: 200, headers: Self.sseHeaders, body: .stream { writer in
                defer { ended.open() }
                try writer.write(Array(": open\n\n".utf8))
                try writer.flush()
                let observation = writer.observeHangup { hungUp.open() }
                defer { observation?.cancel() }
                // Idle: no heartbeat, nothing written. Only the hang-up monitor can end this wait early.
                guard hungUp.wait(timeout: .seconds(60)) else { return }
                do {
                    // The connection is gone; a write must fail cleanly, not crash or block.
                    for _ in 0..<64 {
                        try writer.write([UInt8](repeating: 0x3A, count: 4096))
                        try writer.flush()
                    }
                    writeAfterHangUp.withLock { $0 = "succeeded" }
                } catch ResponseWriterError.clientGone {
                    writeAfterHangUp.withLock { $0 = "clientGone" }
                }
            })
        }) { harness in
            let stream = try HTTPStream(harness.url("/v1/runs/abc/events"))
            #expect(await stream.receive(until: { $0.contains(": open") }, timeout: .seconds(10)))
            let disconnectedAt = ContinuousClock.now
            await stream.hangUp()
            #expect(await hungUp.opened(within: .seconds(20)))
            let noticedAfter = ContinuousClock.now - disconnectedAt
            #expect(await ended.opened(within: .seconds(10)))
            #expect(writeAfterHangUp.withLock { $0 } == "clientGone")
            // Reported, not asserted: the machine is shared and timing is not what this test pins.
            print("\(kind): hang-up noticed \(noticedAfter) after the client disconnected")
            #expect(await pollUntil(timeout: .seconds(10)) { harness.server.statistics.activeStreams == 0 })
            #expect(harness.server.statistics.watchedConnections == 0)
        }
    }

    @Test func endsAStreamBehindLighttpdAtTheFirstWriteAfterTheClientLeft() async throws {
        let outcome = LockedValue<String>("running")
        let ended = Gate()
        try await ServerHarness.with(behind: .lighttpd, handler: ClosureHandler { _ in
            HTTPResponse(status: 200, headers: Self.sseHeaders, body: .stream { writer in
                defer { ended.open() }
                do {
                    // A heartbeat every 100 ms for at most 60 s, like the API's stream at a short interval.
                    for _ in 0..<600 {
                        try writer.write(Array(": beat\n\n".utf8))
                        try writer.flush()
                        usleep(100_000)
                    }
                    outcome.withLock { $0 = "finished" }
                } catch ResponseWriterError.clientGone {
                    outcome.withLock { $0 = "clientGone" }
                }
            })
        }) { harness in
            let stream = try HTTPStream(harness.url("/v1/runs/abc/events"))
            #expect(await stream.receive(until: { $0.contains(": beat") }, timeout: .seconds(10)))
            await stream.hangUp()
            #expect(await ended.opened(within: .seconds(30)))
            #expect(outcome.withLock { $0 } == "clientGone")
        }
    }

    @Test func refusesAStreamOverMaxStreamsWith503AndRetryAfterWhileShortRequestsStillAnswer() async throws {
        let release = Gate()
        let started = Counter()
        try await ServerHarness.with(configure: {
            $0.maxStreams = 2
            $0.retryAfterSeconds = 9
        }, handler: ClosureHandler { request in
            if request.path.hasSuffix("/events") {
                return HTTPResponse(status: 200, headers: Self.sseHeaders, body: .stream { writer in
                    started.increment()
                    try writer.write(Array(": open\n\n".utf8))
                    try writer.flush()
                    let observation = writer.observeHangup { release.open() }
                    defer { observation?.cancel() }
                    release.wait(timeout: .seconds(60))
                })
            }
            return .json(200, Array(#"{"ok":true}"#.utf8))
        }) { harness in
            defer { release.open() }
            let first = try HTTPStream(harness.url("/v1/runs/a/events"))
            let second = try HTTPStream(harness.url("/v1/runs/b/events"))
            #expect(await first.receive(until: { $0.contains(": open") }, timeout: .seconds(10)))
            #expect(await second.receive(until: { $0.contains(": open") }, timeout: .seconds(10)))
            #expect(harness.server.statistics.activeStreams == 2)

            let refused = try await HTTPClient.fetch(harness.url("/v1/runs/c/events"), headers: [("Accept", "text/event-stream")])
            // 200 with only a retry: hint, so a browser's EventSource reconnects by itself; the header says why.
            #expect(refused.status == 200)
            #expect(refused.header("Retry-After") == "9")
            #expect(refused.header("X-RunJournal-Refused") == "stream-limit")
            #expect(refused.header("Content-Type") == "text/event-stream")
            #expect(refused.text == "retry: 9000\n: stream limit reached\n\n")

            let short = try await HTTPClient.fetch(harness.url("/v1/runs"))
            #expect(short.status == 200)
            #expect(started.current == 2)

            // A slot frees up when a stream ends.
            await first.hangUp()
            #expect(await pollUntil(timeout: .seconds(10)) { harness.server.statistics.activeStreams < 2 })
        }
    }

    @Test func stopTellsStreamsThroughTheirHangUpHandlersAndRunReturns() async throws {
        let stopped = Counter()
        try await ServerHarness.with(configure: { $0.stopGracePeriod = .seconds(20) }, handler: ClosureHandler { _ in
            HTTPResponse(status: 200, headers: Self.sseHeaders, body: .stream { writer in
                let told = Gate()
                let observation = writer.observeHangup { told.open() }
                defer { observation?.cancel() }
                try writer.write(Array(": open\n\n".utf8))
                try writer.flush()
                guard told.wait(timeout: .seconds(60)) else { return }
                stopped.increment()
                // Still writable during the grace period: a stream may say goodbye.
                try writer.write(Array("event: shutdown\ndata: bye\n\n".utf8))
                try writer.flush()
            })
        }) { harness in
            let streams = try (0..<3).map { try HTTPStream(harness.url("/v1/runs/r\($0)/events")) }
            for stream in streams { #expect(await stream.receive(until: { $0.contains(": open") }, timeout: .seconds(10))) }

            harness.server.stop()
            #expect(await stopped.reached(3, within: .seconds(10)))
            // The grace period is 20 s; run() returns as soon as the streams have ended, well before that.
            #expect(await harness.waitForRunToReturn(timeout: .seconds(15)))
            #expect(harness.error == nil)
            for stream in streams {
                #expect(await stream.receive(until: { $0.contains("data: bye") }, timeout: .seconds(10)))
                #expect(await stream.ended(within: .seconds(10)))
            }
        }
    }

    @Test func shutsDownStreamsThatIgnoreTheStopAfterTheGracePeriod() async throws {
        let ended = LockedValue<String>("running")
        try await ServerHarness.with(configure: { $0.stopGracePeriod = .milliseconds(300) }, handler: ClosureHandler { _ in
            HTTPResponse(status: 200, headers: Self.sseHeaders, body: .stream { writer in
                // Never observes hang-ups; writes a heartbeat now and then, as a careless stream would.
                do {
                    for _ in 0..<600 {
                        try writer.write(Array(": beat\n\n".utf8))
                        try writer.flush()
                        usleep(50_000)
                    }
                    ended.withLock { $0 = "finished" }
                } catch ResponseWriterError.clientGone {
                    ended.withLock { $0 = "clientGone" }
                }
            })
        }) { harness in
            let stream = try HTTPStream(harness.url("/v1/runs/r/events"))
            #expect(await stream.receive(until: { $0.contains(": beat") }, timeout: .seconds(10)))
            harness.server.stop()
            #expect(await harness.waitForRunToReturn(timeout: .seconds(15)))
            #expect(ended.withLock { $0 } == "clientGone")
        }
    }
}
