import Testing

@testable import RunJournal

/// Summaries are cached per open journal and extended incrementally. These tests append through a second
/// store (its own descriptors and caches: exactly what another process has) behind the first one's back.
@Suite("Run summaries")
struct SummaryTests {
    let directory = TemporaryDirectory("summary")
    let clock = ManualClock()
    let id = runID("s")

    /// The summary a store that has never seen the run computes from the whole file.
    private func fromScratch() throws -> RunSummary { try makeStore(directory).summary(of: id) }

    @Test("a cached summary catches up with events another handle appended")
    func catchesUpWithOtherWriter() throws {
        let reader = try makeStore(directory, clock: clock)
        let writer = try makeStore(directory, clock: clock)
        try reader.create(id: id, metadata: Array(#"{"who":"me"}"#.utf8))
        let initial = try reader.summary(of: id)
        #expect(initial.status == .queued)

        clock.advance(by: 100)
        try writer.append(id, [try event("run.started")] + (0..<10).map { try event("step", #"{"i":\#($0)}"#) })
        var summary = try reader.summary(of: id)
        #expect(summary.lastSeq == 12)
        #expect(summary.status == .running)
        #expect(summary.updatedAtMillis == clock.nowMillis())
        #expect(summary.createdAtMillis == initial.createdAtMillis)
        #expect(summary == (try fromScratch()))

        clock.advance(by: 100)
        try writer.requestStop(id)
        summary = try reader.summary(of: id)
        #expect(summary.stopRequested)
        #expect(summary.stopRequestedAtMillis == clock.nowMillis())
        #expect(summary.status == .running)

        try writer.append(id, [try event("run.failed", #"{"reason":"oom"}"#)])
        summary = try reader.summary(of: id)
        #expect(summary.status == .failed)
        #expect(summary.terminalReason == "oom")
        #expect(summary.lastSeq == 14)
        #expect(summary == (try fromScratch()))
        #expect(String(decoding: summary.metadata, as: UTF8.self) == #"{"who":"me"}"#)
    }

    @Test("a store whose tail is stale appends with the right seq and refuses after another's terminal event")
    func staleTailAppends() throws {
        let first = try makeStore(directory, clock: clock)
        let second = try makeStore(directory, clock: clock)
        try first.create(id: id)
        #expect(try first.append(id, [try event("a")]) == 2...2)
        #expect(try second.append(id, [try event("b"), try event("c")]) == 3...4)
        #expect(try first.append(id, [try event("d")]) == 5...5)
        #expect(try first.summary(of: id).lastSeq == 5)
        #expect(try second.summary(of: id).lastSeq == 5)
        try second.append(id, [try event("run.completed")])
        #expect(journalError { try first.append(id, [try event("e")]) } == .runTerminal(id, .completed))
        #expect(try first.summary(of: id).status == .completed)
        #expect(try JournalVerifier.verify(path: first.path(of: id)).isClean)
    }

    @Test("alternating writers keep every summary equal to a from-scratch summary")
    func alternatingWriters() throws {
        let stores = try (0..<3).map { _ in try makeStore(directory, clock: clock) }
        try stores[0].create(id: id)
        for round in 0..<60 {
            clock.advance(by: Int64(round % 3))
            let store = stores[round % 3]
            try store.append(id, [try event("step", #"{"round":\#(round)}"#)])
            if round % 7 == 0 { _ = try stores[(round + 1) % 3].summary(of: id) }
        }
        let expected = try fromScratch()
        #expect(expected.lastSeq == 61)
        for store in stores { #expect(try store.summary(of: id) == expected) }
    }

    @Test("lifecycle types are recognized by their bytes, and nothing else is")
    func lifecycleTypeRecognition() {
        let lifecycle: [EventType] = [.created, .started, .waiting, .stopRequested, .completed, .failed, .stopped]
        for type in lifecycle {
            #expect(Array(type.rawValue.utf8).withUnsafeBytes { EventType.lifecycle($0) } == type)
        }
        for other in ["run.foo", "run.create", "run.createdx", "run.", "run", "step", "run.completed2", "xun.completed", "run-completed"] {
            #expect(Array(other.utf8).withUnsafeBytes { EventType.lifecycle($0) } == nil, "\(other)")
        }
    }

    @Test("a custom type that looks like a lifecycle type counts as an ordinary event")
    func lookalikeTypes() throws {
        let store = try makeStore(directory, clock: clock)
        try store.create(id: id)
        try store.append(id, [try event("run.completion"), try event("run.failed.retry")])
        let summary = try makeStore(directory).summary(of: id)
        #expect(summary.status == .running)
        #expect(summary.lastType == "run.failed.retry")
        try store.append(id, [try event("run.stopped")])
        #expect(try store.summary(of: id).status == .stopped)
    }

    @Test("the summary accounts for exactly the complete lines' bytes")
    func byteCount() throws {
        let store = try makeStore(directory, clock: clock)
        try store.create(id: id)
        try store.append(id, [try event("a", #"{"x":"\u00e9"}"#)])
        #expect(try store.summary(of: id).byteCount == fileSize(store.path(of: id)))
    }

    @Test("the API JSON of a summary has the documented keys in order")
    func summaryJSON() throws {
        let store = try makeStore(directory, clock: clock)
        try store.create(id: id, metadata: Array(#"{"k":[1]}"#.utf8))
        clock.advance(by: 1)
        try store.requestStop(id)
        let json = String(decoding: try store.summary(of: id).json, as: UTF8.self)
        #expect(json == #"{"id":"s","status":"queued","stop_requested":true,"created_at":"2026-11-25T01:02:03.456Z","updated_at":"2026-11-25T01:02:03.457Z","last_seq":2,"metadata":{"k":[1]}}"#)
    }

    @Test("a journal deleted and recreated behind a cached handle is read anew")
    func recreatedJournal() throws {
        let store = try makeStore(directory, clock: clock)
        try store.create(id: id, metadata: Array(#"{"v":1}"#.utf8))
        try store.append(id, [try event("run.completed")])
        #expect(try store.summary(of: id).status == .completed)

        let other = try makeStore(directory, clock: clock)
        try removeFile(other.path(of: id))
        try other.create(id: id, metadata: Array(#"{"v":2}"#.utf8))
        let summary = try store.summary(of: id)
        #expect(summary.status == .queued)
        #expect(String(decoding: summary.metadata, as: UTF8.self) == #"{"v":2}"#)
        #expect(try store.append(id, [try event("a")]) == 2...2)
        #expect(journalLines(store.path(of: id)).count == 2)
    }

    @Test("a journal deleted behind a cached handle is runNotFound")
    func deletedJournal() throws {
        let store = try makeStore(directory, clock: clock)
        try store.create(id: id)
        _ = try store.summary(of: id)
        try removeFile(store.path(of: id))
        #expect(journalError { try store.summary(of: id) } == .runNotFound(id))
        #expect(journalError { try store.append(id, [try event("a")]) } == .runNotFound(id))
        #expect(!store.exists(id))
        #expect(directory.names().isEmpty)
    }
}
