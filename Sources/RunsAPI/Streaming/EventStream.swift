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
/// The live phase waits on one `WakeSignal` raised by the follower (new lines), the transport (hang-up) and
/// shutdown, with a deadline for the next heartbeat or lifecycle action, so it costs nothing while idle.
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
    }

    /// Runs the whole stream on the calling thread. Returns when the stream is over; a client that went away
    /// is a normal end, not an error.
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
        let hangup = writer.observeHangup { [self] in
            clientGone.store(true, ordering: .sequentiallyConsistent)
            wake.raise()
        }
        defer { hangup?.cancel() }

        buffer.append(contentsOf: SSEFrame.retry(milliseconds: configuration.retryMillis))
        let (replayEnd, terminalSent) = try replay(writer: writer)
        try flush(writer)
        if terminalSent { return .terminalSent }
        if journalFailed { return .journalFailed }

        let follow = try context.follower.follow(path: path, from: replayEnd) { [wake] in wake.raise() }
        journal = nil  // only after the follow holds the file: a deletion in between is then seen as "gone"
        defer { follow.cancel() }
        return try live(writer: writer, follow: follow)
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

    // MARK: Live

    private func live(writer: any ResponseBodyWriter, follow: any JournalFollow) throws -> Outcome {
        let heartbeatMillis = Int64(configuration.heartbeatSeconds) * 1000
        let lifecycle = context.lifecycle
        // On the monotonic clock, like the heartbeat: a wall clock set back must not stretch the hold.
        var lifecycleHoldUntilMonotonic = Int64.min
        while true {
            _ = wake.consume()
            // 1. Send whatever is new.
            drain: while true {
                switch follow.read(maxBytes: configuration.replayChunkBytes) {
                case .caughtUp:
                    break drain
                case .gone:
                    try flush(writer)
                    return .journalGone
                case .lines(let bytes, let offset):
                    if try sendLines(bytes, offset: offset) {
                        try flush(writer)
                        return .terminalSent
                    }
                }
            }
            try flush(writer)
            if clientGone.load(ordering: .sequentiallyConsistent) { return .clientGone }
            if context.shutdown.isShuttingDown { return .shutdown }

            // 2. Lifecycle rules: act when due, re-checked under the journal lock. What gets appended comes
            //    back through the follower like any other event, and ends the stream there.
            var now = context.clock.nowMillis()
            let observed = context.silence.observe(state)
            let holdUntil = lifecycleHoldUntilMonotonic == .min
                ? Int64.min : now + (lifecycleHoldUntilMonotonic - context.monotonicClock.monotonicMillis())
            let lifecycleDeadline = lifecycle.nextDeadline(state, now: now, observed: observed).map { max($0, holdUntil) }
            if let deadline = lifecycleDeadline, now >= deadline {
                do {
                    var decided: [NewEvent]?
                    let appended = try context.store.appendIf(runID) { fresh in
                        decided = lifecycle.overdueEvents(fresh, now: context.clock.nowMillis(), observed: context.silence.observe(fresh))
                        return decided
                    }
                    if appended != nil { context.metrics.countLifecycleEvents(decided) }
                    if appended == nil {
                        // Someone else acted first or the run moved on: learn its current state.
                        state = try context.store.summary(of: runID)
                    }
                } catch {
                    context.logger.warning("lifecycle append failed", metadata: ["run": "\(runID)", "error": "\(error)"])
                    state = (try? context.store.summary(of: runID)) ?? state
                }
                // What was appended arrives through the follower; give it a moment before deciding again.
                lifecycleHoldUntilMonotonic = context.monotonicClock.monotonicMillis() + 1000
                continue
            }

            // 3. Heartbeat when nothing was written for the interval.
            if context.monotonicClock.monotonicMillis() - lastWriteMonotonicMillis >= heartbeatMillis {
                buffer.append(contentsOf: SSEFrame.heartbeat)
                try flush(writer)
                context.metrics.heartbeatsSent.increment()
            }

            // 4. Sleep until something happens or the next deadline (the sleeper takes wall-clock deadlines).
            now = context.clock.nowMillis()
            var deadline = now + (lastWriteMonotonicMillis + heartbeatMillis - context.monotonicClock.monotonicMillis())
            if let lifecycleDeadline { deadline = min(deadline, lifecycleDeadline) }
            if !wake.isRaised {
                context.sleeper.sleep(untilMillis: deadline, orUntil: wake)
            }
        }
    }

    // MARK: Frames

    /// Frames the lines of `bytes` (complete lines starting at `offset`). Returns true after a terminal event.
    private func sendLines(_ bytes: [UInt8], offset: Int64) throws -> Bool {
        var terminal = false
        try bytes.withUnsafeBytes { raw in
            try JournalReader.forEachLine(in: raw, offset: offset, path: path) { line in
                terminal = try send(line)
                return !terminal
            }
        }
        return terminal
    }

    /// Frames one line (skipping anything at or before the resume point). Returns true if it is terminal.
    ///
    /// A line the client does not get to see (it resumed beyond the last seq) still counts for what the
    /// stream knows of the run: a stop request there starts the grace, and a terminal event there ends the
    /// stream (the client's reconnect then gets 204), instead of heartbeats forever on an ended run.
    private func send(_ line: JournalReader.Line) throws -> Bool {
        if line.seq > state.lastSeq { state.consume(line: line.bytes, fields: line.fields) }
        let terminal = EventType.lifecycle(line.type)?.isTerminal ?? false
        guard line.seq > resumeAfter else { return terminal }
        switch format {
        case .events:
            SSEFrame.appendEvent(seq: line.seq, incarnation: incarnation, type: line.type, data: line.data, to: &buffer)
        case .lines:
            SSEFrame.appendLine(seq: line.seq, incarnation: incarnation, line: line.bytes, to: &buffer)
        }
        bufferedFrames += 1
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
