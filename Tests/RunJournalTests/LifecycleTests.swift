import Testing

@testable import RunJournal

@Suite("Run lifecycle")
struct LifecycleTests {
    let directory = TemporaryDirectory("lifecycle")
    let clock = ManualClock()
    let store: JournalStore
    let id = runID("run-1")

    init() throws {
        store = try makeStore(directory, clock: clock)
        try store.create(id: id, metadata: Array(#"{"job":"build"}"#.utf8))
    }

    private var types: [String] {
        journalLines(store.path(of: id)).map { line in
            let start = line.range(of: #""type":""#)!.upperBound
            return String(line[start...].prefix { $0 != "\"" })
        }
    }

    @Test("a new run is queued with seq 1 run.created and its metadata")
    func createdIsQueued() throws {
        let summary = try store.summary(of: id)
        #expect(summary.status == .queued)
        #expect(summary.lastSeq == 1)
        #expect(summary.lastType == "run.created")
        #expect(!summary.stopRequested)
        #expect(String(decoding: summary.metadata, as: UTF8.self) == #"{"job":"build"}"#)
        #expect(summary.createdAtMillis == clock.nowMillis())
        #expect(summary.updatedAtMillis == clock.nowMillis())
    }

    @Test("any event but run.created and run.stop_requested makes a run running")
    func startedIsRunning() throws {
        try store.append(id, [try event("log.line", #"{"text":"hi"}"#)])
        #expect(try store.summary(of: id).status == .running)
        try store.append(id, [try event("run.started")])
        #expect(try store.summary(of: id).status == .running)
    }

    @Test("run.waiting keeps a run running, and so does the event after it")
    func waitingThenRunning() throws {
        try store.append(id, [try event("run.started"), try event("run.waiting", #"{"for":"input"}"#)])
        var summary = try store.summary(of: id)
        #expect(summary.status == .running)
        #expect(summary.lastType == "run.waiting")
        try store.append(id, [try event("input.received")])
        summary = try store.summary(of: id)
        #expect(summary.status == .running)
        #expect(summary.lastType == "input.received")
    }

    @Test("a stop request does not change the status: a queued run stays queued, a running one running")
    func stopRequestKeepsStatus() throws {
        clock.advance(by: 10)
        var summary = try store.requestStop(id)
        #expect(summary.status == .queued)
        #expect(summary.stopRequested)
        #expect(summary.stopRequestedAtMillis == clock.nowMillis())
        #expect(summary.lastSeq == 2)

        try store.append(id, [try event("run.started")])
        summary = try store.summary(of: id)
        #expect(summary.status == .running)
        #expect(summary.stopRequested)
    }

    @Test("requestStop is idempotent: the second request appends nothing and keeps the first time")
    func requestStopIsIdempotent() throws {
        try store.append(id, [try event("run.started")])
        let first = try store.requestStop(id)
        let bytes = readBytes(store.path(of: id))
        clock.advance(by: 500)
        let second = try store.requestStop(id)
        #expect(readBytes(store.path(of: id)) == bytes)
        #expect(second == first)
        #expect(second.stopRequestedAtMillis == first.stopRequestedAtMillis)
        #expect(types == ["run.created", "run.started", "run.stop_requested"])
        #expect(second.status == .running)
    }

    @Test("requestStop on a finished run is refused and writes nothing")
    func requestStopOnTerminal() throws {
        try store.append(id, [try event("run.completed")])
        let bytes = readBytes(store.path(of: id))
        #expect(journalError { try store.requestStop(id) } == .runTerminal(id, .completed))
        #expect(readBytes(store.path(of: id)) == bytes)
    }

    @Test(
        "each terminal event ends the run with its status",
        arguments: [("run.completed", RunStatus.completed), ("run.failed", .failed), ("run.stopped", .stopped)])
    func terminalStatuses(type: String, status: RunStatus) throws {
        try store.append(id, [try event("run.started"), try event(type, #"{"reason":"because \"x\""}"#)])
        let summary = try store.summary(of: id)
        #expect(summary.status == status)
        #expect(summary.status.isTerminal)
        #expect(summary.terminalReason == #"because "x""#)
        #expect(summary.lastSeq == 3)
    }

    @Test("nothing may be appended after a terminal event; the journal is untouched")
    func nothingAfterTerminal() throws {
        try store.append(id, [try event("run.failed")])
        let bytes = readBytes(store.path(of: id))
        #expect(journalError { try store.append(id, [try event("log")]) } == .runTerminal(id, .failed))
        #expect(journalError { try store.append(id, [try event("run.completed")]) } == .runTerminal(id, .failed))
        #expect(readBytes(store.path(of: id)) == bytes)
        // A fresh store (no cached tail) refuses too.
        let other = try makeStore(directory)
        #expect(journalError { try other.append(id, [try event("log")]) } == .runTerminal(id, .failed))
        #expect(readBytes(store.path(of: id)) == bytes)
    }

    @Test("a batch may end with a terminal event")
    func batchEndingInTerminal() throws {
        let seqs = try store.append(id, [try event("run.started"), try event("step"), try event("run.completed")])
        #expect(seqs == 2...4)
        #expect(try store.summary(of: id).status == .completed)
    }

    @Test("a batch with anything after its terminal event is refused whole, nothing written")
    func batchWithEventAfterTerminal() throws {
        let bytes = readBytes(store.path(of: id))
        let error = journalError {
            try store.append(id, [try event("run.started"), try event("run.completed"), try event("step")])
        }
        guard case .invalidBatch(let reason)? = error else {
            Issue.record("expected invalidBatch, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("event 2 (run.completed) is terminal"))
        #expect(readBytes(store.path(of: id)) == bytes)
        #expect(try store.summary(of: id).status == .queued)
        // Two terminals in one batch are refused the same way.
        #expect(journalError { try store.append(id, [try event("run.failed"), try event("run.completed")]) }?.code == "invalid_batch")
        #expect(readBytes(store.path(of: id)) == bytes)
    }

    @Test("run.created is reserved for create and run.stop_requested for requestStop")
    func reservedTypes() throws {
        let bytes = readBytes(store.path(of: id))
        #expect(journalError { try store.append(id, [try event("run.created")]) } == .reservedEventType(.created))
        #expect(journalError { try store.append(id, [try event("step"), try event("run.stop_requested")]) } == .reservedEventType(.stopRequested))
        #expect(readBytes(store.path(of: id)) == bytes)
        #expect(JournalError.reservedEventType(.created).description.contains("only create"))
    }

    @Test("an empty batch is refused")
    func emptyBatch() {
        #expect(journalError { try store.append(id, []) } == .invalidBatch("a batch needs at least one event"))
    }

    @Test("seqs are contiguous from 1 across single appends and batches")
    func contiguousSeqs() throws {
        #expect(try store.append(id, [try event("a")]) == 2...2)
        #expect(try store.append(id, [try event("b"), try event("c"), try event("d")]) == 3...5)
        #expect(try store.append(id, [try event("e")]) == 6...6)
        let journal = try store.openReader(id)
        #expect(try readSeqs(journal).seqs == Array(1...6))
    }

    @Test("appendIf appends nothing when the decision declines")
    func appendIfDeclines() throws {
        let bytes = readBytes(store.path(of: id))
        var seen: RunSummary?
        let result = try store.appendIf(id) { summary in
            seen = summary
            return nil
        }
        #expect(result == nil)
        #expect(seen?.lastSeq == 1)
        #expect(seen?.status == .queued)
        #expect(readBytes(store.path(of: id)) == bytes)
    }

    @Test("appendIf appends what the decision returns, deciding on the current summary")
    func appendIfAccepts() throws {
        try store.append(id, [try event("run.started"), try event("run.waiting")])
        let idle = try event("run.failed", #"{"reason":"idle"}"#)
        let result = try store.appendIf(id) { summary in
            summary.lastType == "run.waiting" ? nil : [idle]
        }
        #expect(result == nil)
        try store.append(id, [try event("step")])
        let second = try store.appendIf(id) { summary in
            summary.lastSeq == 4 && summary.lastType == "step" ? [idle] : nil
        }
        #expect(second == 5...5)
        let summary = try store.summary(of: id)
        #expect(summary.status == .failed)
        #expect(summary.terminalReason == "idle")
    }

    @Test("appendIf may append a stop request but never run.created")
    func appendIfReserved() throws {
        let stop = NewEvent(type: .stopRequested, compactData: Array("{}".utf8))
        #expect(try store.appendIf(id) { _ in [stop] } == 2...2)
        #expect(try store.summary(of: id).stopRequested)
        let created = NewEvent(type: .created, compactData: Array("{}".utf8))
        #expect(journalError { try store.appendIf(id) { _ in [created] } } == .reservedEventType(.created))
        #expect(try store.summary(of: id).lastSeq == 2)
    }

    @Test("appendIf on a finished run returns nil without asking the decision")
    func appendIfOnTerminal() throws {
        try store.append(id, [try event("run.stopped")])
        let bytes = readBytes(store.path(of: id))
        let asked = Box(false)
        let result = try store.appendIf(id) { _ in
            asked.value = true
            return [NewEvent(type: try! EventType("late"), compactData: Array("{}".utf8))]
        }
        #expect(result == nil)
        #expect(!asked.value)
        #expect(readBytes(store.path(of: id)) == bytes)
    }

    @Test("status transitions follow the documented table")
    func statusTable() {
        let custom = try! EventType("step")
        for status in RunStatus.allCases {
            #expect(status.after(.created) == .queued)
            #expect(status.after(.stopRequested) == status)
            #expect(status.after(.completed) == .completed)
            #expect(status.after(.failed) == .failed)
            #expect(status.after(.stopped) == .stopped)
            #expect(status.after(.started) == (status.isTerminal ? status : .running))
            #expect(status.after(.waiting) == (status.isTerminal ? status : .running))
            #expect(status.after(custom) == (status.isTerminal ? status : .running))
        }
    }

    @Test("ts never decreases even when the clock goes backwards")
    func timestampsNeverDecrease() throws {
        clock.advance(by: 5000)
        try store.append(id, [try event("a")])
        clock.advance(by: -4000)
        try store.append(id, [try event("b")])
        let journal = try store.openReader(id)
        var times: [Int64] = []
        try journal.forEachLine(from: 0) { line in
            times.append(line.fields.timestampMillis)
            return true
        }
        #expect(times == [times[0], times[0] + 5000, times[0] + 5000])
        #expect(try JournalVerifier.verify(path: store.path(of: id)).isClean)
    }
}
