import Foundation
import Testing
import RunsAPI
import FastCGIServer

/// The thread model: a thread per request on demand, no queue, back to baseline after a burst.
@Suite struct CapacityTests {
    /// Each request waits inside the handler until `width` requests are inside at the same time. With any
    /// fixed pool narrower than `width` this deadlocks until the handlers' timeout, and the bodies say so.
    private func barrierHandler(width: Int, inside: Counter) -> ClosureHandler {
        ClosureHandler { _ in
            inside.increment()
            let allThere = inside.wait(forAtLeast: width, timeout: .seconds(30))
            return .json(200, Array((allThere ? #"{"barrier":"released"}"# : #"{"barrier":"timed out"}"#).utf8))
        }
    }

    @Test func servesABurstOf300ConcurrentSlowRequestsAllAtOnce() async throws {
        let inside = Counter()
        try await ServerHarness.with(configure: { $0.spareWorkerLimit = 4 }, handler: barrierHandler(width: 300, inside: inside)) { harness in
            let urls = (0..<300).map { harness.url("/v1/runs/r\($0)") }
            let results = try await HTTPClient.parallelGET(urls, maxParallel: 300, timeout: .seconds(90))
            #expect(results.filter { $0.status == 200 }.count == 300)
            #expect(results.filter { $0.text.contains("released") }.count == 300)
        }
    }

    @Test func workerThreadsReturnToTheSpareLimitAfterABurst() async throws {
        let inside = Counter()
        try await ServerHarness.with(configure: { $0.spareWorkerLimit = 3 }, handler: barrierHandler(width: 60, inside: inside)) { harness in
            let baselineTasks = threadCount()
            let results = try await HTTPClient.parallelGET((0..<60).map { harness.url("/x/\($0)") }, maxParallel: 60)
            #expect(results.allSatisfy { $0.status == 200 && $0.text.contains("released") })
            // nginx keeps (up to its upstream `keepalive`) the connections the burst opened, each with its
            // worker parked on it; every other worker beyond the spare limit exits.
            #expect(await pollUntil(timeout: .seconds(20)) {
                let statistics = harness.server.statistics
                return statistics.workerThreads - statistics.keptConnections <= 3
            })
            let statistics = harness.server.statistics
            #expect(statistics.keptConnections >= 1)
            #expect(statistics.idleWorkers == statistics.workerThreads - statistics.keptConnections)
            #expect(statistics.activeRequests == 0)
            // When the web server lets its connections go, their workers go too.
            await harness.web?.stopped()
            #expect(await pollUntil(timeout: .seconds(20)) { harness.server.statistics.workerThreads <= 3 })
            #expect(harness.server.statistics.keptConnections == 0)
            // The OS agrees (other tests run in parallel, so only roughly): the 60 threads are gone.
            #expect(await pollUntil(timeout: .seconds(20)) { threadCount() < baselineTasks + 30 })
        }
    }

    @Test func answers503AtOnceWhenEveryAllowedWorkerIsBusy() async throws {
        let release = Gate()
        let inside = Counter()
        try await ServerHarness.with(configure: {
            $0.maxConcurrentRequests = 1
            $0.retryAfterSeconds = 3
        }, handler: ClosureHandler { _ in
            inside.increment()
            release.wait(timeout: .seconds(30))
            return .json(200, Array(#"{"ok":true}"#.utf8))
        }) { harness in
            defer { release.open() }
            let slow = Thread { _ = try? HTTPClient.request(harness.url("/slow")) }
            slow.start()
            #expect(await inside.reached(1, within: .seconds(10)))
            let refused = try await HTTPClient.fetch(harness.url("/fast"))
            #expect(refused.status == 503)
            #expect(refused.errorCode == "server_busy")
            #expect(refused.header("Retry-After") == "3")
            release.open()
            #expect(await pollUntil(timeout: .seconds(10)) { harness.server.statistics.activeRequests == 0 })
            #expect(try await HTTPClient.fetch(harness.url("/fast")).status == 200)
        }
    }

    /// When the system refuses a thread (pthread_create → EAGAIN, forced through the fault seam) the request
    /// that needed it gets a 503 in the API's error shape with Retry-After, and the server carries on: the
    /// next request, and a stream that was already running, are served. Before, a failed thread start in the
    /// store or the tailer trapped and took the whole responder (every stream) down.
    @Test func aRequestThatCannotGetAThreadIs503AndTheServerCarriesOn() async throws {
        let refusedStarts = Counter()
        let release = Gate()
        let streaming = Counter()
        try await ServerHarness.with(configure: {
            $0.retryAfterSeconds = 7
            $0.spareWorkerLimit = 0  // every request needs a new thread: no idle worker hides the fault
            // Once the stream runs, the next thread start is refused (EAGAIN), then they succeed again.
            $0.workerThreadStartFault = {
                guard streaming.current >= 1, refusedStarts.current == 0 else { return nil }
                refusedStarts.increment()
                return EAGAIN
            }
        }, handler: ClosureHandler { request in
            guard request.path == "/stream" else { return .json(200, Array(#"{"ok":true}"#.utf8)) }
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream")], body: .stream { writer in
                try writer.write(Array("retry: 1000\n\n".utf8))
                try writer.flush()
                streaming.increment()
                release.wait(timeout: .seconds(60))
                try writer.write(Array(": still here\n\n".utf8))
                try writer.flush()
            })
        }) { harness in
            defer { release.open() }
            let stream = try HTTPStream(harness.url("/stream"))
            #expect(await streaming.reached(1, within: .seconds(20)))

            let refused = try await HTTPClient.fetch(harness.url("/v1/runs/r1"))
            #expect(refused.status == 503, "\(refused.text)")
            #expect(refused.errorCode == "server_busy")
            #expect(refused.header("Retry-After") == "7")
            #expect(refused.text.hasPrefix(#"{"error":{"code":"server_busy","message":""#), "\(refused.text)")
            #expect(refusedStarts.current == 1)

            // The next request gets its thread, and the stream that was running goes on.
            let served = try await HTTPClient.fetch(harness.url("/v1/runs/r2"))
            #expect(served.status == 200, "\(served.text)")
            release.open()
            #expect(stream.read(until: { $0.contains(": still here") }, timeout: .seconds(20)), "\(stream.received)")
        }
    }

    /// A client that connects and then sends part of a request and stalls must not hold an acceptor: with
    /// the request read on the acceptor (libfcgi's own accept does that), two such clients stop every new
    /// connection, and nginx's requests wait in the backlog until its read timeout.
    @Test func clientsThatConnectAndStallHoldNoAcceptor() async throws {
        try await ServerHarness.with(configure: { $0.acceptorThreads = 2 }, handler: ClosureHandler(echoResponse)) { harness in
            var stalled: [Int32] = []
            defer { stalled.forEach { close($0) } }
            for _ in 0..<6 {
                let fd = try #require(UnixSocketProbe.connect(harness.socketPath))
                // The first byte of a FastCGI record header, and nothing more.
                var version: UInt8 = 1
                #expect(write(fd, &version, 1) == 1)
                stalled.append(fd)
            }
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.connectionsAccepted >= 6 })
            for index in 0..<5 {
                // The first of these needs a new responder connection (nginx has none cached yet), which only
                // a free acceptor can take.
                let result = try HTTPClient.request(harness.url("/v1/runs/r\(index)"), timeout: .seconds(10))
                #expect(result.status == 200)
            }
        }
    }

    /// At the request cap the acceptor answers 503 itself, so it reads the request: a client that trickles
    /// its request a byte at a time must not hold it (a per-read timeout would never expire).
    @Test func aTricklingClientAtTheCapDoesNotHoldTheAcceptor() async throws {
        let release = Gate()
        let inside = Counter()
        try await ServerHarness.with(configure: {
            $0.maxConcurrentRequests = 1
            $0.acceptorThreads = 1
        }, handler: ClosureHandler { request in
            if request.path == "/slow" {
                inside.increment()
                release.wait(timeout: .seconds(30))
            }
            return echoResponse(request)
        }) { harness in
            defer { release.open() }
            let slow = Thread { _ = try? HTTPClient.request(harness.url("/slow")) }
            slow.start()
            #expect(await inside.reached(1, within: .seconds(10)))
            let trickler = try RawFastCGIClient(unixPath: harness.socketPath)
            defer { trickler.close() }
            let stopTrickling = Gate()
            defer { stopTrickling.open() }
            let trickle = Thread {
                // BEGIN_REQUEST, then a PARAMS record of 200 bytes: one byte every 200 ms, for longer than
                // the test waits.
                let bytes: [UInt8] = [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 4, 0, 1, 0, 200, 0, 0]
                    + Array(repeating: UInt8(ascii: "a"), count: 200)
                for byte in bytes {
                    if stopTrickling.wait(timeout: .milliseconds(200)) || !trickler.send([byte]) { return }
                }
            }
            trickle.start()
            try await Task.sleep(for: .milliseconds(300))
            // The next connection still gets its 503, from the same (only) acceptor.
            let started = ContinuousClock.now
            let client = try RawFastCGIClient(unixPath: harness.socketPath, timeout: .seconds(8))
            defer { client.close() }
            let response = try client.request(uri: "/fast", body: [], keepConnection: false)
            #expect(response.hasPrefix("Status: 503"), "\(response)")
            #expect(ContinuousClock.now - started < .seconds(3))
        }
    }

    /// A connection that never sends its request holds a worker, and with it request capacity, only briefly.
    @Test func aSilentNewConnectionIsDroppedAfterTheFirstRequestTimeout() async throws {
        try await ServerHarness.with(configure: { $0.maxConcurrentRequests = 2 }, handler: ClosureHandler(echoResponse)) { harness in
            let silent = try (0..<2).map { _ in try RawFastCGIClient(unixPath: harness.socketPath) }
            defer { silent.forEach { $0.close() } }
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.activeRequests == 2 })
            #expect(await pollUntil(timeout: .seconds(15)) { harness.server.statistics.activeRequests == 0 })
            #expect(silent.allSatisfy { $0.readsEndOfFile(within: .seconds(5)) })
            let result = try await HTTPClient.fetch(harness.url("/v1/runs/a"))
            #expect(result.status == 200)
        }
    }

    @Test func measuresTheDeepestWorkerStackUseWellBelowTheConfiguredSize() async throws {
        try await ServerHarness.with(configure: { $0.measuresStackUsage = true }, handler: ClosureHandler { request in
            if request.path.hasSuffix("/events") {
                return HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream")], body: .stream { writer in
                    for index in 0..<20 {
                        try writer.write(Array("id: \(index)\ndata: {\"n\":\(index)}\n\n".utf8))
                        try writer.flush()
                    }
                })
            }
            return echoResponse(request)
        }) { harness in
            #expect(try await HTTPClient.fetch("POST", harness.url("/v1/runs?a=1&b=2"), headers: [("Last-Event-ID", "5")],
                                           body: Array(repeating: 0x41, count: 100_000)).status == 200)
            let stream = try HTTPStream(harness.url("/v1/runs/a/events"))
            #expect(await stream.ended(within: .seconds(10)))
            #expect(try await HTTPClient.fetch(harness.url("/v1/runs/%FF")).status == 400)
            let deepest = try #require(harness.server.statistics.stackHighWaterBytes)
            print("deepest worker stack use: \(deepest) bytes of \(harness.server.configuration.workerStackSize)")
            #expect(deepest > 0)
            #expect(deepest < harness.server.configuration.workerStackSize / 4)
        }
    }

    private func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
    }
}
