import Foundation
import RunJournal
import Synchronization
import Testing

@testable import RunsAPI

/// The live phase handed to a transport that parks streams (`StreamParking`), stepped here by hand the way
/// the FastCGI server's stream loop steps it, in virtual time.
@Suite("Events stream: parked on a transport's loop")
struct ParkedLiveStreamTests {
    private func park(_ api: APIHarness, _ id: String) throws -> (ParkingWriter, any ParkableStream) {
        let response = api.events(id)
        guard case .stream(let body) = response.body else {
            Issue.record("expected a stream, got \(response.status)")
            throw CancellationError()
        }
        let writer = ParkingWriter()
        try body(writer)
        let stream = try #require(writer.parked)
        return (writer, stream)
    }

    @Test("after the replay the stream is handed over; each step sends what was appended since, and the terminal event ends it")
    func parkedStreamSendsNewEventsAndEnds() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let (writer, stream) = try park(api, "r1")
        #expect(frames(writer.written).compactMap(\.eventID) == [1])

        var step = try stream.step(readLimit: 65536)
        #expect(step.output.isEmpty && step.outcome == nil)
        // Nothing to do until the heartbeat is due.
        #expect(step.wakeAfterMillis == 15_000)

        try api.append(id, "log", #"{"n":1}"#)
        step = try stream.step(readLimit: 65536)
        #expect(frames(step.output).compactMap(\.eventID) == [2])

        api.clock.advance(by: 15_000)
        step = try stream.step(readLimit: 65536)
        #expect(String(decoding: step.output, as: UTF8.self) == ": heartbeat\n\n")

        try api.append(id, "run.completed")
        step = try stream.step(readLimit: 65536)
        #expect(step.outcome == .terminalSent)
        #expect(frames(step.output).compactMap(\.eventID) == [3])
        stream.finish()
    }

    @Test("a read limit of 0 (the client is behind) takes nothing from the journal; the next step catches up in order")
    func zeroReadLimitTakesNothing() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let (_, stream) = try park(api, "r1")
        try api.append(id, "log")
        #expect(try stream.step(readLimit: 0).output.isEmpty)
        try api.append(id, "log")
        let step = try stream.step(readLimit: 65536)
        #expect(frames(step.output).compactMap(\.eventID) == [2, 3])
        stream.finish()
    }

    @Test("streams of one run at the same offset get the same frame bytes, made once (one storage)")
    func framesAreSharedBetweenStreamsOfOneRun() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let streams = try (0..<3).map { _ in try park(api, "r1").1 }
        try api.append(id, batch: [("log", #"{"n":1}"#), ("log", #"{"n":2}"#)])
        let outputs = try streams.map { try $0.step(readLimit: 65536).output }
        #expect(outputs.allSatisfy { $0 == outputs[0] })
        #expect(frames(outputs[0]).compactMap(\.eventID) == [2, 3])
        let storages = outputs.map { output in output.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } }
        #expect(Set(storages).count == 1, "each stream framed the chunk itself")
        // A stream that resumed elsewhere (here: after seq 2) frames its own chunk: it skips seq 2.
        let response = api.events("r1", lastEventID: "3")
        guard case .stream(let body) = response.body else { Issue.record("no stream"); return }
        let late = ParkingWriter()
        try body(late)
        try api.append(id, "log", #"{"n":3}"#)
        let lateOutput = try #require(late.parked).step(readLimit: 65536).output
        #expect(frames(lateOutput).compactMap(\.eventID) == [4])
        streams.forEach { $0.finish() }
        late.parked?.finish()
    }

    @Test("a stream woken half a million times calls its waker as directly as the first time (no growing chain of wrappers)")
    func wakingDoesNotGrowTheWaker() throws {
        let api = try APIHarness()
        try api.createRun("r1")
        let (writer, stream) = try park(api, "r1")
        // Each wake-up used to wrap the stored waker in two more thunks: this many overflowed any stack.
        for _ in 0..<500_000 { stream.markClientGone() }
        #expect(writer.wakes.load(ordering: .relaxed) == 500_000)
        #expect(try stream.step(readLimit: 65536).outcome == .clientGone)
        stream.finish()
    }

    @Test("a run deleted and created again under its id (same incarnation, same offsets) never gets the old run's frames")
    func recreatedRunGetsItsOwnFrames() throws {
        let api = try APIHarness()
        var id = try api.createRun("r1")
        let (_, old) = try park(api, "r1")
        try api.append(id, "log", #"{"n":1}"#)
        #expect(String(decoding: try old.step(readLimit: 65536).output, as: UTF8.self).contains(#""n":1"#))
        old.finish()
        // At the same (virtual) millisecond: the same incarnation; the same line lengths: the same offsets.
        _ = try api.store.deleteIf(id) { _ in true }
        id = try api.createRun("r1")
        let (_, new) = try park(api, "r1")
        try api.append(id, "log", #"{"n":2}"#)
        let output = String(decoding: try new.step(readLimit: 65536).output, as: UTF8.self)
        #expect(output.contains(#""n":2"#) && !output.contains(#""n":1"#), "\(output)")
        new.finish()
    }

    @Test("a chunk's frames are kept only while another stream of its journal could ask for them")
    func sharedFramesGoWithTheStreamsThatCouldUseThem() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let (_, first) = try park(api, "r1")
        try api.append(id, "log")
        _ = try first.step(readLimit: 65536)
        #expect(api.context.frames.keptChunks == 0, "frames kept for a journal that has one stream")
        let (_, second) = try park(api, "r1")
        try api.append(id, "log")
        let outputs = try [first, second].map { try $0.step(readLimit: 65536).output }
        #expect(outputs[0] == outputs[1] && !outputs[0].isEmpty)
        #expect(api.context.frames.keptChunks == 1)
        first.finish()
        second.finish()
        #expect(api.context.frames.keptChunks == 0, "frames kept for a journal nobody follows any more")
    }

    @Test("a parked stream's watchdog append runs off the stepping thread, and its event then arrives like any other")
    func lifecycleAppendRunsElsewhere() async throws {
        let api = try APIHarness { $0.idleTimeoutSeconds = 30 }
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        let (writer, stream) = try park(api, "r1")
        // The first step starts this responder's observation of the run's silence (monotonic clock).
        #expect(try stream.step(readLimit: 65536).outcome == nil)
        api.clock.advance(by: 31_000)
        // Hold the lifecycle thread: the watchdog's append must wait behind this, not run in the step.
        let hold = DispatchSemaphore(value: 0)
        api.context.lifecycleActions.run { hold.wait() }
        var step = try stream.step(readLimit: 65536)
        #expect(step.outcome == nil)
        #expect(!api.journalTypes(id).contains("run.failed"), "the watchdog appended on the stepping thread")
        hold.signal()
        // The append happens on the lifecycle thread; its wake-up reaches the waker.
        #expect(await pollUntil(timeout: .seconds(10)) { api.journalTypes(id).last == "run.failed" })
        #expect(await pollUntil(timeout: .seconds(10)) { writer.wakes.load(ordering: .relaxed) >= 1 })
        var outcome: StreamOutcome?
        var received: [SSEFrameRecord] = []
        for _ in 0..<5 where outcome == nil {
            step = try stream.step(readLimit: 65536)
            received += frames(step.output)
            outcome = step.outcome
        }
        #expect(outcome == .terminalSent)
        #expect(received.compactMap(\.eventType).last == "run.failed")
        // Exactly one watchdog event, however many steps saw the deadline.
        #expect(api.journalTypes(id).filter { $0 == "run.failed" }.count == 1)
        stream.finish()
    }
}

/// Records what the replay wrote, and takes the live stream over.
final class ParkingWriter: StreamParking, @unchecked Sendable {
    private(set) var written: [UInt8] = []
    private(set) var parked: (any ParkableStream)?
    let wakes = Atomic<Int>(0)

    func write(_ bytes: [UInt8]) throws { written += bytes }
    func flush() throws {}
    func observeHangup(_ handler: @escaping @Sendable () -> Void) -> (any HangupObservation)? { nil }

    func park(_ stream: any ParkableStream) -> Bool {
        parked = stream
        stream.setWaker { [self] in self.wakes.add(1, ordering: .relaxed) }
        return true
    }
}

/// The SSE frames in `bytes`.
private func frames(_ bytes: [UInt8]) -> [SSEFrameRecord] {
    SSEFrameRecord.parse([RecordingWriter.Write(atMillis: 0, bytes: bytes)])
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
private func pollUntil(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
