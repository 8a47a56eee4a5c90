import Logging
import SystemSupport
import RunJournal
import Synchronization

/// The live phase of one event stream, as a state machine: "something may have happened, advance". Each
/// `step` sends what is new in the journal, acts on the run's lifecycle deadlines (idle watchdog, stop
/// grace), adds a heartbeat when the stream has been silent for the interval, and says when it wants the
/// next step. It never blocks and never writes: the caller writes the bytes it returns.
///
/// Two drivers use the same machine, so the rules exist once:
/// - a stream's own thread (`runBlocking`: wait on a `WakeSignal`, step, write), for transports that cannot
///   park a stream, and in the unit tests that run streams in virtual time;
/// - a transport's event loop (`StreamParking`), which holds every parked stream on one thread and steps a
///   stream when its `onWake` says so or its deadline comes.
public final class LiveStream: ParkableStream, @unchecked Sendable {
    // Everything but `waker` and `clientGone` is touched only by the driver, one step at a time.
    private let context: RunsContext
    private let runID: RunID
    private let path: String
    private let resumeAfter: Int64
    private let format: StreamFormat
    private let incarnation: [UInt8]
    private var state: RunSummary
    private var follow: (any JournalFollow)?
    private var buffer: [UInt8] = []
    private var bufferedFrames = 0
    /// When the stream last produced bytes, on the monotonic clock: a heartbeat is due `heartbeatSeconds`
    /// later whatever the wall clock does.
    private var lastOutputMonotonicMillis: Int64
    /// After a lifecycle append, decide again only once the appended event had a moment to come back
    /// through the follower (monotonic, like the heartbeat).
    private var lifecycleHoldUntilMonotonic = Int64.min
    /// Set while the stream is parked on a transport's loop: lifecycle appends (a journal lock, perhaps a
    /// sync) then run on `context.lifecycleActions`, and their outcome comes back through `lifecycleResult`.
    var runsLifecycleElsewhere = false
    private let lifecycleResult = LockedValue<(inFlight: Bool, state: RunSummary?)>((false, nil))
    private let clientGone = Atomic<Bool>(false)
    /// Who to tell that the stream has work: set by the driver before the first step; called from the tailer
    /// (new lines), the transport (hang-up) and shutdown.
    private let waker = LockedCallback()
    private var shutdownKey: ObjectIdentifier { ObjectIdentifier(self) }
    private var framesJournal: SharedFrames.JournalKey { SharedFrames.JournalKey(path: path, incarnation: incarnation, format: format) }

    init(
        context: RunsContext, runID: RunID, path: String, summary: RunSummary, resumeAfter: Int64,
        format: StreamFormat, incarnation: [UInt8], lastOutputMonotonicMillis: Int64
    ) {
        self.context = context
        self.runID = runID
        self.path = path
        self.state = summary
        self.resumeAfter = resumeAfter
        self.format = format
        self.incarnation = incarnation
        self.lastOutputMonotonicMillis = lastOutputMonotonicMillis
    }

    /// Starts following the journal at `offset` (just after the last replayed line) and registers for
    /// shutdown. `wake` is called, from any thread, whenever the stream should be stepped.
    func start(from offset: Int64, wake: @escaping @Sendable () -> Void) throws {
        waker.set(wake)
        follow = try context.follower.follow(path: path, from: offset) { [weak self] in self?.wake() }
        context.frames.follow(framesJournal)
        context.shutdown.register(key: shutdownKey) { [weak self] in self?.wake() }
    }

    /// Replaces who is told about work (the transport's loop, when the stream is parked).
    public func setWaker(_ wake: @escaping @Sendable () -> Void) {
        waker.set(wake)
    }

    private func wake() {
        waker.current?()
    }

    /// The transport saw the client hang up (any thread): the next step ends the stream.
    public func markClientGone() {
        clientGone.store(true, ordering: .sequentiallyConsistent)
        wake()
    }

    /// Stops following and forgets the waker; idempotent. Called by the driver when the stream is over,
    /// however it ended.
    public func finish() {
        if let follow {
            follow.cancel()
            context.frames.unfollow(framesJournal)
        }
        follow = nil
        waker.set(nil)
        context.shutdown.unregister(key: shutdownKey)
    }

    /// Advances the stream. `readLimit` bounds the journal bytes read in this step (the transport's
    /// back-pressure: 0 reads nothing, for a client that has not taken what it was sent yet); heartbeats
    /// and lifecycle actions happen regardless.
    /// Throws when the journal holds a line that does not scan (the stream ends; the transport logs it).
    public func step(readLimit: Int) throws -> StreamStep {
        var moreWaiting = false
        // 1. Frame whatever is new.
        if let follow, readLimit > 0 {
            drain: while buffer.count < readLimit {
                switch follow.read(maxBytes: min(readLimit - buffer.count, context.configuration.replayChunkBytes)) {
                case .caughtUp:
                    break drain
                case .gone:
                    return finishStep(.journalGone)
                case .lines(let bytes, let offset):
                    if try frame(bytes, offset: offset) { return finishStep(.terminalSent) }
                }
            }
            moreWaiting = buffer.count >= readLimit
        }
        if clientGone.load(ordering: .sequentiallyConsistent) { return finishStep(.clientGone) }
        if context.shutdown.isShuttingDown { return finishStep(.shutdown) }
        if runsLifecycleElsewhere, let learned = lifecycleResult.withLock({ result -> RunSummary? in
            defer { result.state = nil }
            return result.state
        }) {
            state = learned
        }

        // 2. Lifecycle rules: act when due, re-checked under the journal lock. What gets appended comes back
        //    through the follower like any other event, and ends the stream there.
        let monotonicNow = context.monotonicClock.monotonicMillis()
        let now = context.clock.nowMillis()
        let lifecycle = context.lifecycle
        let holdUntil = lifecycleHoldUntilMonotonic == .min ? Int64.min : now + (lifecycleHoldUntilMonotonic - monotonicNow)
        let lifecycleDeadline = lifecycle.nextDeadline(state, now: now, observed: context.silence.observe(state)).map { max($0, holdUntil) }
        if let deadline = lifecycleDeadline, now >= deadline {
            guard runsLifecycleElsewhere else {
                actOnLifecycle()
                return emit(wakeAfterMillis: 0)
            }
            let alreadyRunning = lifecycleResult.withLock { result -> Bool in
                defer { result.inFlight = true }
                return result.inFlight
            }
            if !alreadyRunning {
                let snapshot = state
                context.lifecycleActions.run { [self] in
                    let learned = Self.performLifecycle(context: context, runID: runID, current: snapshot)
                    lifecycleResult.withLock { $0 = (false, learned) }
                    wake()
                }
            }
            lifecycleHoldUntilMonotonic = monotonicNow + 1000
            return emit(wakeAfterMillis: 0)
        }

        // 3. A heartbeat when nothing was sent for the interval.
        let heartbeatMillis = Int64(context.configuration.heartbeatSeconds) * 1000
        if buffer.isEmpty && monotonicNow - lastOutputMonotonicMillis >= heartbeatMillis {
            buffer.append(contentsOf: SSEFrame.heartbeat)
            context.metrics.heartbeatsSent.increment()
        }
        if !buffer.isEmpty { lastOutputMonotonicMillis = monotonicNow }

        // 4. The next deadline: the heartbeat, or the lifecycle action, whichever comes first.
        var wakeAfter = lastOutputMonotonicMillis + heartbeatMillis - monotonicNow
        if let lifecycleDeadline { wakeAfter = min(wakeAfter, lifecycleDeadline - now) }
        return emit(wakeAfterMillis: moreWaiting ? 0 : max(0, wakeAfter))
    }

    /// Runs the live phase on the calling thread until it ends: the driver for transports that cannot park
    /// a stream. `writer` gets every step's bytes, flushed.
    func runBlocking(writer: any ResponseBodyWriter, wake: WakeSignal) throws -> StreamOutcome {
        let readLimit = 4 * context.configuration.replayChunkBytes
        while true {
            _ = wake.consume()
            let step = try step(readLimit: readLimit)
            if !step.output.isEmpty {
                try writer.write(step.output)
                try writer.flush()
            }
            if let outcome = step.outcome { return outcome }
            if step.wakeAfterMillis > 0 && !wake.isRaised {
                context.sleeper.sleep(untilMillis: context.clock.nowMillis() + step.wakeAfterMillis, orUntil: wake)
            }
        }
    }

    // MARK: Lifecycle

    private func actOnLifecycle() {
        if let learned = Self.performLifecycle(context: context, runID: runID, current: state) { state = learned }
        lifecycleHoldUntilMonotonic = context.monotonicClock.monotonicMillis() + 1000
    }

    /// Appends what the lifecycle rules say is overdue, decided again under the journal lock. Returns the
    /// run's state when the stream must learn it (someone else acted first, or the append failed); nil when
    /// the appended event will arrive through the follower like any other.
    private static func performLifecycle(context: RunsContext, runID: RunID, current: RunSummary) -> RunSummary? {
        do {
            var decided: [NewEvent]?
            let appended = try context.store.appendIf(runID) { fresh in
                decided = context.lifecycle.overdueEvents(fresh, now: context.clock.nowMillis(), observed: context.silence.observe(fresh))
                return decided
            }
            if appended != nil {
                context.metrics.countLifecycleEvents(decided)
                return nil
            }
            return try context.store.summary(of: runID)
        } catch {
            context.logger.warning("lifecycle append failed", metadata: ["run": "\(runID)", "error": "\(error)"])
            return try? context.store.summary(of: runID)
        }
    }

    // MARK: Frames

    private func finishStep(_ outcome: StreamOutcome) -> StreamStep {
        var step = emit(wakeAfterMillis: 0)
        step.outcome = outcome
        return step
    }

    private func emit(wakeAfterMillis: Int64) -> StreamStep {
        if bufferedFrames > 0 {
            context.metrics.sseFramesSent.increment(by: bufferedFrames)
            bufferedFrames = 0
        }
        if !buffer.isEmpty { lastOutputMonotonicMillis = context.monotonicClock.monotonicMillis() }
        let output = buffer
        buffer = []
        return StreamStep(output: output, wakeAfterMillis: wakeAfterMillis)
    }

    /// Frames the complete lines of `bytes` (starting at journal offset `offset`); true after a terminal
    /// event. Every stream of the journal that is at the same offset gets the same frames: the first one
    /// makes them, the others take them from `context.frames`.
    private func frame(_ bytes: [UInt8], offset: Int64) throws -> Bool {
        // Shared frames hold for every stream that sends each line of the chunk (none resumed beyond it).
        let key = SharedFrames.Key(path: path, incarnation: incarnation, format: format, offset: offset, count: bytes.count)
        let sendsEveryLine = state.lastSeq >= resumeAfter
        if sendsEveryLine, let shared = context.frames.lookup(key, source: bytes, state: state) {
            if buffer.isEmpty { buffer = shared.frames } else { buffer.append(contentsOf: shared.frames) }
            bufferedFrames += shared.frameCount
            state = shared.state
            return shared.terminal
        }
        let start = buffer.count
        let framesBefore = bufferedFrames
        let stateBefore = state
        var terminal = false
        try bytes.withUnsafeBytes { raw in
            try JournalReader.forEachLine(in: raw, offset: offset, path: path) { line in
                terminal = send(line)
                return !terminal
            }
        }
        // Only a chunk framed whole, by a stream whose view of the run ends exactly where the chunk does, is
        // shared: the next stream at this offset then ends up where this one is.
        if sendsEveryLine && state.byteCount == offset + Int64(bytes.count) && context.frames.isShared(key.journal) {
            context.frames.store(key, SharedFrames.Entry(
                source: bytes, stateBefore: stateBefore, frames: Array(buffer[start...]), frameCount: bufferedFrames - framesBefore, state: state, terminal: terminal))
        }
        return terminal
    }

    /// Frames one line (`StreamFormat.take`). Returns true if it is terminal.
    private func send(_ line: JournalReader.Line) -> Bool {
        let (terminal, framed) = format.take(line, resumeAfter: resumeAfter, incarnation: incarnation, state: &state, into: &buffer)
        if framed { bufferedFrames += 1 }
        return terminal
    }
}
