import Logging
import RunJournal
import Synchronization
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// One client's event stream: replay, then live, then the end.
///
/// Fixes over the Ruby original: the terminal frame is flushed before the stream returns (never lost);
/// lifecycle events the server appends (watchdog, stop grace) are decided under the journal lock
/// (`JournalStore.appendIf`), so they never race a producer's event; an idle timeout of "off" disables the
/// watchdog; and a client that hangs up while the stream is idle is noticed at once, not at the next
/// heartbeat.
///
/// The replay runs on the calling thread (the transport's worker). The live phase is a `LiveStream`: handed to
/// the transport when it can park streams (`StreamParking`: the FastCGI server's stream loop, one thread for
/// every stream), run here otherwise, waiting on one `WakeSignal` raised by the follower (new lines), the
/// transport (hang-up) and shutdown, with a deadline for the next heartbeat or lifecycle action.
final class EventStream: @unchecked Sendable {
    private let context: RunsContext
    private let runID: RunID
    /// The replay's own descriptor; released once the tailer follows the journal, so a live stream costs the
    /// responder one descriptor (its connection): the tailer shares one per journal among all its streams.
    private var journal: OpenJournal?
    private let path: String
    private let resumeAfter: Int64
    /// How each event is framed (`?format=`); everything else about the stream is the same for both.
    private let format: StreamFormat
    /// The replay sends nothing past this offset: the size the operation saw before its durability sync.
    private let replayLimit: Int64
    /// The journal failed: the replay shows what its last good sync covered, and the stream ends there (nothing
    /// can be appended until it is repaired, and the repaired journal is a new file).
    private let journalFailed: Bool
    /// The run's incarnation, part of every event id (`EventID`); a stream never outlives its journal.
    private let incarnation: [UInt8]
    /// What the stream knows of the run: the summary at the start, extended by every line it sends.
    private var state: RunSummary
    private var buffer: [UInt8] = []
    /// When the stream last wrote, on the monotonic clock: a heartbeat is due `heartbeatSeconds` later
    /// whatever the wall clock does (set back an hour, it would otherwise hold heartbeats back an hour).
    private var lastWriteMonotonicMillis: Int64 = 0
    /// Event frames in `buffer`, counted into the metrics when it is flushed (one atomic add per flush).
    private var bufferedFrames = 0
    private let wake = WakeSignal()
    private let clientGone = Atomic<Bool>(false)

    init(
        context: RunsContext, runID: RunID, journal: OpenJournal, summary: RunSummary, resumeAfter: Int64,
        replayLimit: Int64 = .max, journalFailed: Bool = false, format: StreamFormat = .events
    ) {
        self.format = format
        self.replayLimit = replayLimit
        self.journalFailed = journalFailed
        self.context = context
        self.runID = runID
        self.journal = journal
        self.path = journal.path
        self.state = summary
        self.resumeAfter = resumeAfter
        self.incarnation = EventID.incarnation(createdAtMillis: summary.createdAtMillis)
    }

    private var configuration: RunsAPIConfiguration { context.configuration }

    enum Outcome: Equatable {
        case terminalSent, journalGone, journalFailed, clientGone, shutdown
        /// The transport took the live phase over (`StreamParking`); it ends the stream.
        case parked
    }

    /// Runs the stream on the calling thread: the replay, then the live phase here, or on the transport's
    /// event loop when it can park streams. Returns when the stream is over or parked; a client that went
    /// away is a normal end, not an error.
    @discardableResult
    func run(writer: any ResponseBodyWriter) throws -> Outcome {
        do {
            return try stream(writer: writer)
        } catch ResponseWriterError.clientGone {
            return .clientGone
        }
    }

    private func stream(writer: any ResponseBodyWriter) throws -> Outcome {
        context.shutdown.register(wake)
        defer { context.shutdown.unregister(wake) }
        // One observation for the whole stream: during the live phase it tells the live stream too.
        let liveStream = LockedValue<LiveStream?>(nil)
        let onHangup: @Sendable () -> Void = { [self] in
            clientGone.store(true, ordering: .sequentiallyConsistent)
            wake.raise()
            liveStream.withLock { $0 }?.markClientGone()
        }
        var hangup = writer.observeHangup(onHangup)
        defer { hangup?.cancel() }

        buffer.append(contentsOf: SSEFrame.retry(milliseconds: configuration.retryMillis))
        let (replayEnd, terminalSent) = try replay(writer: writer)
        try flush(writer)
        if terminalSent { return .terminalSent }
        if journalFailed { return .journalFailed }
        if clientGone.load(ordering: .sequentiallyConsistent) { return .clientGone }

        let live = LiveStream(
            context: context, runID: runID, path: path, summary: state, resumeAfter: resumeAfter, format: format,
            incarnation: incarnation, lastOutputMonotonicMillis: lastWriteMonotonicMillis)
        try live.start(from: replayEnd) { [wake] in wake.raise() }
        journal = nil  // only after the follow holds the file: a deletion in between is then seen as "gone"
        if let parking = writer as? any StreamParking {
            // The transport watches the connection from now on.
            live.runsLifecycleElsewhere = true  // set before the loop can step it
            if parking.park(live) { return .parked }
            live.runsLifecycleElsewhere = false
            // It could not take the stream (and may have dropped the observation): watch again, here.
            hangup?.cancel()
            hangup = writer.observeHangup(onHangup)
        }
        defer { live.finish() }
        liveStream.withLock { $0 = live }
        if clientGone.load(ordering: .sequentiallyConsistent) { live.markClientGone() }
        switch try live.runBlocking(writer: writer, wake: wake) {
        case .terminalSent: return .terminalSent
        case .journalGone: return .journalGone
        case .clientGone: return .clientGone
        case .shutdown: return .shutdown
        }
    }

    // MARK: Replay

    /// Sends every event with seq > resume point that is in the file now, in chunks (bounded memory).
    /// Returns the offset after the last line sent, and whether that line was terminal.
    private func replay(writer: any ResponseBodyWriter) throws -> (Int64, Bool) {
        guard let journal else { return (0, false) }
        // Durable before visible: the operation took the size, then synced (nearly free when the writer already
        // did), so everything up to `replayLimit` is on disk; a line appended since is left to the live phase.
        let limit = min(replayLimit, try journal.size())
        let start = try journal.offset(afterSeq: resumeAfter)
        var end = start
        var terminal = false
        // Bytes past `limit` count as not written: a batch whose last line lies beyond it is not sent in part.
        try journal.forEachLine(from: start, limit: limit) { line in
            terminal = try send(line)
            end = line.endOffset
            if buffer.count >= configuration.replayChunkBytes { try flush(writer) }
            return !terminal
        }
        return (end, terminal)
    }

    // MARK: Frames

    /// Frames one replayed line (`StreamFormat.take`). Returns true if it is terminal.
    private func send(_ line: JournalReader.Line) throws -> Bool {
        let (terminal, framed) = format.take(line, resumeAfter: resumeAfter, incarnation: incarnation, state: &state, into: &buffer)
        if framed { bufferedFrames += 1 }
        return terminal
    }

    private func flush(_ writer: any ResponseBodyWriter) throws {
        guard !buffer.isEmpty else { return }
        try writer.write(buffer)
        try writer.flush()
        if bufferedFrames > 0 {
            context.metrics.sseFramesSent.increment(by: bufferedFrames)
            bufferedFrames = 0
        }
        buffer.removeAll(keepingCapacity: buffer.capacity <= 4 * configuration.replayChunkBytes)
        lastWriteMonotonicMillis = context.monotonicClock.monotonicMillis()
    }
}
