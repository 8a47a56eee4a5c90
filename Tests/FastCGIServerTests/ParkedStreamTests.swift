import Foundation
import Testing
import RunJournal
import RunsAPI
@testable import FastCGIServer
import Synchronization
import SystemSupport

/// Streams whose live phase the server carries on its stream loop (`StreamParking`): the worker hands the
/// connection over and goes back to the pool, the loop writes the FastCGI records itself.
@Suite struct ParkedStreamTests {
    private static let sseHeaders: [(String, String)] = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]

    /// A handler whose streams send `: open`, then park `stream(for: path)` on the loop.
    private static func parkingHandler(_ make: @escaping @Sendable (String) -> ScriptedStream) -> ClosureHandler {
        ClosureHandler { request in
            HTTPResponse(status: 200, headers: sseHeaders, body: .stream { writer in
                try writer.write(Array(": open\n\n".utf8))
                try writer.flush()
                let stream = make(request.path)
                guard let parking = writer as? any StreamParking, parking.park(stream) else {
                    stream.parkRefused.store(true, ordering: .relaxed)
                    return
                }
            })
        }
    }

    @Test(arguments: WebServerFixture.Kind.allCases)
    func aParkedStreamDeliversWhatItProducesAndEndsWithItsResponse(kind: WebServerFixture.Kind) async throws {
        let stream = ScriptedStream()
        try await ServerHarness.with(behind: kind, handler: Self.parkingHandler { _ in stream }) { harness in
            let client = try HTTPStream(harness.url("/v1/runs/a/events"))
            defer { client.disconnect() }
            #expect(await client.receive(until: { $0.contains(": open\n\n") }, timeout: .seconds(10)))
            // The worker went back to the pool: the stream holds no request capacity, only its stream slot.
            #expect(await pollUntil(timeout: .seconds(5)) {
                let statistics = harness.server.statistics
                return statistics.parkedStreams == 1 && statistics.activeStreams == 1 && statistics.activeRequests == 0
            })
            stream.push("id: 1\ndata: one\n\n")
            #expect(await client.receive(until: { $0.contains("data: one\n\n") }, timeout: .seconds(10)))
            stream.push("id: 2\ndata: two\n\n", end: .terminalSent)
            #expect(await client.receive(until: { $0.contains("data: two\n\n") }, timeout: .seconds(10)))
            #expect(await client.ended(within: .seconds(10)))
            #expect(client.received == ": open\n\nid: 1\ndata: one\n\nid: 2\ndata: two\n\n")
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.activeStreams == 0 })
            #expect(stream.isFinished)
            #expect(!stream.wasRefused)
        }
    }

    @Test func theResponseEndsWithAnEmptyStdoutAndEndRequestAndTheKeptConnectionCarriesTheNextRequest() async throws {
        try await ServerHarness.with(behind: nil, configure: { $0.listen = .tcp(host: "127.0.0.1", port: 0) },
                                     handler: Self.parkingHandler { path in
            return ScriptedStream.ended(after: "data: \(path)\n\n")
        }) { harness in
            let port = try #require(harness.server.boundPort)
            let client = try RawFastCGIClient(port: port)
            defer { client.close() }
            for index in 0..<3 {
                try client.startRequest(uri: "/v1/runs/r\(index)/events", keepConnection: true)
                let (stdout, types) = try client.readResponse()
                #expect(stdout.hasSuffix(": open\n\ndata: /v1/runs/r\(index)/events\n\n"), "\(stdout)")
                // ... STDOUT records, the empty STDOUT that ends stdout, END_REQUEST.
                #expect(types.suffix(2) == [6, 3])
            }
            let response = try client.request(uri: "/v1/runs/plain", body: [], keepConnection: true)
            #expect(response.contains("Status: 200"), "\(response)")
            #expect(harness.server.statistics.connectionsAccepted == 1)
        }
    }

    /// A stream that ended on a kept connection leaves a deadline behind (its next heartbeat); the kept
    /// connection's idle timeout replaces it: the connection is not closed when the stale heartbeat comes up,
    /// but carries the web server's next request.
    @Test func aKeptConnectionOutlivesTheHeartbeatDeadlineOfTheStreamThatEndedOnIt() async throws {
        let stream = ScriptedStream(idleWakeAfterMillis: 200)
        try await ServerHarness.with(behind: nil, configure: {
            $0.listen = .tcp(host: "127.0.0.1", port: 0)
            $0.keptConnectionIdleTimeout = .seconds(600)
        }, handler: Self.parkingHandler { path in
            guard path == "/v1/runs/a/events" else {
                return ScriptedStream.ended(after: "data: next\n\n")
            }
            return stream
        }) { harness in
            let port = try #require(harness.server.boundPort)
            let client = try RawFastCGIClient(port: port)
            defer { client.close() }
            try client.startRequest(uri: "/v1/runs/a/events", keepConnection: true)
            // Stepped once on the loop: its next deadline (200 ms on) is in the loop's timers.
            #expect(await pollUntil(timeout: .seconds(10)) { stream.steps.load(ordering: .relaxed) >= 1 })
            stream.push("data: last\n\n", end: .terminalSent)
            let (stdout, types) = try client.readResponse()
            #expect(stdout.hasSuffix("data: last\n\n"), "\(stdout)")
            #expect(types.suffix(2) == [6, 3])
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.keptConnections == 1 })
            // Well past the ended stream's deadline, far from the kept connection's idle timeout.
            try await Task.sleep(for: .seconds(1))
            #expect(harness.server.statistics.keptConnections == 1, "the kept connection was closed at the old stream's deadline")
            let response = try client.request(uri: "/v1/runs/next", body: [], keepConnection: true)
            #expect(response.hasSuffix("data: next\n\n"), "\(response)")
            #expect(harness.server.statistics.connectionsAccepted == 1)
        }
    }

    /// A stream that ends while its client is far behind: the end waits behind the backlog, and once the
    /// client has read everything the kept connection carries the next request.
    @Test func aStreamEndingWithAFullBacklogStillEndsWholeAndKeepsItsConnection() async throws {
        let stream = ScriptedStream()
        try await ServerHarness.with(behind: nil, configure: { $0.listen = .tcp(host: "127.0.0.1", port: 0) },
                                     handler: Self.parkingHandler { path in
            guard path == "/v1/runs/a/events" else {
                return ScriptedStream.ended(after: "data: next\n\n")
            }
            return stream
        }) { harness in
            let port = try #require(harness.server.boundPort)
            let client = try RawFastCGIClient(port: port, timeout: .seconds(30))
            defer { client.close() }
            try client.startRequest(uri: "/v1/runs/a/events", keepConnection: true)
            #expect(await pollUntil(timeout: .seconds(10)) { stream.steps.load(ordering: .relaxed) >= 1 })
            // 8 MiB the client does not read yet (more than socket buffers and backlog hold), then the end.
            let line = "data: " + String(repeating: "y", count: 1000) + "\n\n"
            for _ in 0..<(8 << 20) / line.utf8.count { stream.push(line) }
            stream.push("data: last\n\n", end: .terminalSent)
            try await Task.sleep(for: .milliseconds(300))
            let (stdout, types) = try client.readResponse()
            #expect(stdout.hasSuffix(line + "data: last\n\n"))
            #expect(types.suffix(2) == [6, 3])
            let response = try client.request(uri: "/v1/runs/next", body: [], keepConnection: true)
            #expect(response.hasSuffix("data: next\n\n"), "\(response)")
            #expect(harness.server.statistics.connectionsAccepted == 1)
        }
    }

    /// The thread that wakes a parked stream while the loop sleeps steps it itself: its bytes are on the
    /// connection when the wake-up returns, and the loop thread was not woken for it.
    @Test func aWakeUpWhileTheLoopSleepsIsSteppedByTheWakingThread() async throws {
        let stream = ScriptedStream()
        try await ServerHarness.with(behind: nil, configure: { $0.listen = .tcp(host: "127.0.0.1", port: 0) },
                                     handler: Self.parkingHandler { _ in stream }) { harness in
            let port = try #require(harness.server.boundPort)
            let client = try RawFastCGIClient(port: port)
            defer { client.close() }
            try client.startRequest(uri: "/v1/runs/a/events", keepConnection: false)
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.parkedStreams == 1 })
            _ = client.drain(limit: 1 << 20, timeout: .seconds(1))  // the head and ": open"
            try await Task.sleep(for: .milliseconds(200))  // the loop goes back to epoll_wait
            let before = harness.server.statistics.streamStepsByWakers
            stream.push("data: inline\n\n")
            #expect(harness.server.statistics.streamStepsByWakers == before + 1)
            #expect(client.drain(limit: 1 << 20, timeout: .seconds(5)) > 0)
        }
    }

    @Test func aClientHangUpEndsAnIdleParkedStream() async throws {
        let stream = ScriptedStream()
        try await ServerHarness.with(behind: .nginx, handler: Self.parkingHandler { _ in stream }) { harness in
            let client = try HTTPStream(harness.url("/v1/runs/a/events"))
            #expect(await client.receive(until: { $0.contains(": open\n\n") }, timeout: .seconds(10)))
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.parkedStreams == 1 })
            await client.hangUp()
            // Nothing is written to the idle stream: only the loop's watch on the connection can notice.
            #expect(await pollUntil(timeout: .seconds(10)) { stream.finished.load(ordering: .relaxed) })
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.activeStreams == 0 })
        }
    }

    /// A client that reads nothing: the loop keeps what its connection does not take, up to the backlog limit,
    /// and then stops taking new journal bytes from the stream; once the client reads, the stream goes on.
    @Test func aSlowClientsUnsentBytesAreBounded() async throws {
        let stream = ScriptedStream(firehose: true)
        try await ServerHarness.with(behind: nil, configure: { $0.listen = .tcp(host: "127.0.0.1", port: 0) },
                                     handler: Self.parkingHandler { _ in stream }) { harness in
            let port = try #require(harness.server.boundPort)
            let client = try RawFastCGIClient(port: port)
            defer { client.close() }
            try client.startRequest(uri: "/v1/runs/a/events", keepConnection: false)
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.parkedStreams == 1 })
            // Unbounded, the firehose would produce gigabytes in this time.
            try await Task.sleep(for: .seconds(1))
            let stalled = stream.produced.load(ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(500))
            let after = stream.produced.load(ordering: .relaxed)
            #expect(after == stalled, "the stream kept producing for a client that reads nothing")
            #expect(stalled < 16 << 20, "\(stalled) bytes produced for a client that reads nothing")
            // The client reads: the backlog drains and the stream produces again.
            _ = client.drain(limit: 32 << 20, timeout: .seconds(2))
            #expect(await pollUntil(timeout: .seconds(10)) { stream.produced.load(ordering: .relaxed) > stalled })
        }
    }

    @Test(arguments: WebServerFixture.Kind.allCases)
    func aStopEndsParkedStreamsProperly(kind: WebServerFixture.Kind) async throws {
        let stream = ScriptedStream()
        let harness = try ServerHarness(behind: kind, handler: Self.parkingHandler { _ in stream })
        let client = try HTTPStream(harness.url("/v1/runs/a/events"))
        defer { client.disconnect() }
        #expect(await client.receive(until: { $0.contains(": open\n\n") }, timeout: .seconds(10)))
        #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.parkedStreams == 1 })
        harness.server.stop()
        // The client sees the end of the response (not a reset), and the stream was told.
        #expect(await client.ended(within: .seconds(10)))
        #expect(await pollUntil(timeout: .seconds(5)) { stream.finished.load(ordering: .relaxed) })
        await harness.stop()
    }

    /// A stop with many streams parked: each gets the end of its response (empty STDOUT, END_REQUEST), none
    /// is cut off, and the loop exits.
    @Test func aStopEndsAThousandParkedStreamsEachWithTheEndOfItsResponse() async throws {
        let streams = LockedValue<[ScriptedStream]>([])
        let harness = try ServerHarness(behind: nil, configure: { $0.maxStreams = 2000 }, handler: Self.parkingHandler { _ in
            let stream = ScriptedStream()
            streams.withLock { $0.append(stream) }
            return stream
        })
        var clients: [RawFastCGIClient] = []
        defer { clients.forEach { $0.close() } }
        for index in 0..<1000 {
            let client = try RawFastCGIClient(unixPath: harness.socketPath, timeout: .seconds(60))
            try client.startRequest(uri: "/v1/runs/r\(index)/events", keepConnection: true)
            clients.append(client)
        }
        #expect(await pollUntil(timeout: .seconds(60)) { harness.server.statistics.parkedStreams == 1000 })
        harness.server.stop()
        var ended = 0
        for client in clients {
            if let (stdout, types) = try? client.readResponse(), stdout.hasSuffix(": open\n\n"), types.suffix(2) == [6, 3] { ended += 1 }
        }
        #expect(ended == 1000)
        #expect(streams.withLock { $0.allSatisfy(\.isFinished) })
        await harness.stop()
        #expect(harness.server.statistics.parkedStreams == 0)
    }

    @Test func aThousandParkedStreamsHoldNoWorker() async throws {
        try await ServerHarness.with(behind: nil, configure: { $0.maxStreams = 2000 },
                                     handler: Self.parkingHandler { _ in ScriptedStream() }) { harness in
            var clients: [RawFastCGIClient] = []
            defer { clients.forEach { $0.close() } }
            for index in 0..<1000 {
                let client = try RawFastCGIClient(unixPath: harness.socketPath)
                try client.startRequest(uri: "/v1/runs/r\(index)/events", keepConnection: false)
                clients.append(client)
            }
            #expect(await pollUntil(timeout: .seconds(60)) { harness.server.statistics.parkedStreams == 1000 })
            let statistics = harness.server.statistics
            #expect(statistics.activeRequests == 0)
            #expect(await pollUntil(timeout: .seconds(30)) {
                harness.server.statistics.workerThreads <= harness.server.configuration.spareWorkerLimit
            })
        }
    }
}

/// A parkable stream driven by the test: `push` queues bytes (and optionally the end) and wakes it. With
/// `firehose`, every step produces as many bytes as it may and asks to be stepped again at once.
final class ScriptedStream: ParkableStream, @unchecked Sendable {
    private let state = LockedValue<(queued: [UInt8], end: StreamOutcome?)>(([], nil))
    private let waker = LockedCallback()
    private let firehose: Bool
    /// What a step asks for when it has nothing more to do (a heartbeat deadline, for a real stream).
    private let idleWakeAfterMillis: Int64
    let finished = Atomic<Bool>(false)
    let steps = Atomic<Int>(0)
    let parkRefused = Atomic<Bool>(false)
    let produced = Atomic<Int>(0)

    init(firehose: Bool = false, idleWakeAfterMillis: Int64 = 60_000) {
        self.firehose = firehose
        self.idleWakeAfterMillis = idleWakeAfterMillis
    }

    /// A stream whose first step sends `text` and ends its response.
    static func ended(after text: String) -> ScriptedStream {
        let stream = ScriptedStream()
        stream.push(text, end: .terminalSent)
        return stream
    }

    func push(_ text: String, end: StreamOutcome? = nil) {
        state.withLock { state in
            state.queued += Array(text.utf8)
            state.end = end
        }
        waker.current?()
    }

    func setWaker(_ wake: @escaping @Sendable () -> Void) { waker.set(wake) }

    func step(readLimit: Int) throws -> StreamStep {
        steps.add(1, ordering: .relaxed)
        if firehose {
            let output = [UInt8](repeating: UInt8(ascii: "x"), count: readLimit)
            produced.add(readLimit, ordering: .relaxed)
            return StreamStep(output: output, wakeAfterMillis: readLimit > 0 ? 0 : 60_000)
        }
        return state.withLock { state in
            let step = StreamStep(output: state.queued, outcome: state.end, wakeAfterMillis: idleWakeAfterMillis)
            state.queued = []
            return step
        }
    }

    var isFinished: Bool { finished.load(ordering: .relaxed) }
    var wasRefused: Bool { parkRefused.load(ordering: .relaxed) }

    func markClientGone() {}

    func finish() { finished.store(true, ordering: .relaxed) }
}

/// Spare workers that the load has not needed for `spareWorkerIdleTimeout` exit, down to the floor.
@Suite struct SpareWorkerTrimTests {
    @Test func idleSparesExitDownToTheFloorAfterTheIdleTimeout() async throws {
        try await ServerHarness.with(behind: nil, configure: {
            $0.spareWorkerIdleTimeout = .milliseconds(300)
            $0.spareWorkerFloor = 2
        }, handler: ClosureHandler { request in
            // Hold each request a moment so the burst needs many workers at once.
            usleep(200_000)
            return HTTPResponse(status: 200, headers: [], body: .bytes(Array("ok".utf8)))
        }) { harness in
            let clients = try (0..<12).map { _ in try RawFastCGIClient(unixPath: harness.socketPath) }
            defer { clients.forEach { $0.close() } }
            for (index, client) in clients.enumerated() { try client.startRequest(uri: "/r/\(index)", keepConnection: false) }
            #expect(await pollUntil(timeout: .seconds(10)) { harness.server.statistics.workerThreads >= 8 })
            #expect(await pollUntil(timeout: .seconds(20)) { harness.server.statistics.workerThreads == 2 })
            #expect(harness.server.statistics.idleWorkers == 2)
        }
    }
}
