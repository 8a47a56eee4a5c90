import RunJournal
import RunsAPI
import Synchronization
import SystemSupport

/// A `ResponseBodyWriter` that stands in for the transport: it records every write and flush with the virtual
/// time it happened, can be told to fail like a dead connection (`clientGone` on the Nth write or flush), and
/// keeps the hang-up handler a stream registers so a scheduled action can fire it — nginx closing the
/// upstream connection while the stream is idle.
final class RecordingWriter: ResponseBodyWriter, Sendable {
    struct Write: Sendable {
        var atMillis: Int64
        var bytes: [UInt8]
    }

    private struct State {
        var writes: [Write] = []
        var flushTimes: [Int64] = []
        var unflushedBytes = 0
        var writeCalls = 0
        var flushCalls = 0
        var gone = false
        var hangupHandler: (@Sendable () -> Void)?
        var observation: Observation?
        var observeCalls = 0
    }

    let clock: any WallClock
    /// Throw `clientGone` on this write call (1-based) and on every call after it.
    let failOnWrite: Int?
    /// Throw `clientGone` on this flush call (1-based) and on every call after it.
    let failOnFlush: Int?
    /// False: behave like a transport that cannot detect a hang-up (`observeHangup` returns nil).
    let detectsHangup: Bool
    /// Called with the 1-based write number before each write is recorded (to act at an exact point).
    let onWrite: (@Sendable (Int) -> Void)?
    private let state = LockedValue(State())

    init(
        clock: any WallClock, failOnWrite: Int? = nil, failOnFlush: Int? = nil, detectsHangup: Bool = true,
        onWrite: (@Sendable (Int) -> Void)? = nil
    ) {
        self.clock = clock
        self.failOnWrite = failOnWrite
        self.failOnFlush = failOnFlush
        self.detectsHangup = detectsHangup
        self.onWrite = onWrite
    }

    func write(_ bytes: [UInt8]) throws {
        let number = state.withLock { state -> Int in
            state.writeCalls += 1
            return state.writeCalls
        }
        onWrite?(number)
        let now = clock.nowMillis()
        try state.withLock { state in
            if state.gone || number == failOnWrite {
                state.gone = true
                throw ResponseWriterError.clientGone
            }
            state.writes.append(Write(atMillis: now, bytes: bytes))
            state.unflushedBytes += bytes.count
        }
    }

    func flush() throws {
        let now = clock.nowMillis()
        try state.withLock { state in
            state.flushCalls += 1
            if state.gone || state.flushCalls == failOnFlush {
                state.gone = true
                throw ResponseWriterError.clientGone
            }
            state.flushTimes.append(now)
            state.unflushedBytes = 0
        }
    }

    func observeHangup(_ handler: @escaping @Sendable () -> Void) -> (any HangupObservation)? {
        state.withLock { state -> (any HangupObservation)? in
            state.observeCalls += 1
            guard detectsHangup else { return nil }
            let observation = Observation()
            state.hangupHandler = handler
            state.observation = observation
            return observation
        }
    }

    /// Simulates the transport noticing that the client went away while the stream is idle: marks the
    /// connection dead (later writes throw) and calls the stream's handler, unless it cancelled its observation.
    func hangUp() {
        let handler = state.withLock { state -> (@Sendable () -> Void)? in
            state.gone = true
            guard let observation = state.observation, !observation.isCancelled else { return nil }
            return state.hangupHandler
        }
        handler?()
    }

    // MARK: What happened

    var writes: [Write] { state.withLock { $0.writes } }
    var flushTimes: [Int64] { state.withLock { $0.flushTimes } }
    /// Everything written, concatenated.
    var bytes: [UInt8] { state.withLock { $0.writes.flatMap(\.bytes) } }
    var text: String { String(decoding: bytes, as: UTF8.self) }
    /// Bytes written since the last successful flush (0: everything written reached the client).
    var unflushedBytes: Int { state.withLock { $0.unflushedBytes } }
    var observeCalls: Int { state.withLock { $0.observeCalls } }
    /// Whether the stream registered for hang-ups and later cancelled that registration.
    var hangupObservationCancelled: Bool? { state.withLock { $0.observation?.isCancelled } }

    /// The frames written, each with the time of the write that completed it.
    var frames: [SSEFrameRecord] { SSEFrameRecord.parse(writes) }

    final class Observation: HangupObservation {
        private let cancelled = Atomic<Bool>(false)
        private let cancels = Atomic<Int>(0)
        var isCancelled: Bool { cancelled.load(ordering: .sequentiallyConsistent) }
        var cancelCount: Int { cancels.load(ordering: .sequentiallyConsistent) }
        func cancel() {
            cancels.add(1, ordering: .sequentiallyConsistent)
            cancelled.store(true, ordering: .sequentiallyConsistent)
        }
    }
}
