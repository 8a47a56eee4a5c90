import Testing

@testable import RunJournal

/// A crash in the middle of `write(2)` leaves a last line without `\n`. Readers must never yield it, and the
/// next append must cut it off (under the lock) before writing, so seqs stay contiguous.
@Suite("Torn tails")
struct TornTailTests {
    let directory = TemporaryDirectory("torn")
    let clock = ManualClock()
    let id = runID("torn")

    /// A run with seqs 1...4; returns its complete bytes.
    private func makeRun(_ store: JournalStore) throws -> [UInt8] {
        try store.create(id: id)
        try store.append(id, [try event("run.started"), try event("step", #"{"i":1}"#), try event("step", #"{"i":2}"#)])
        return readBytes(store.path(of: id))
    }

    static let tornTails = [
        #"{"seq":5,"ts":"20"#,
        "{",
        // The hard case: a whole line but for its newline. It looks complete; it is not.
        String(line(5, 1_795_568_523_456, "step", #"{"i":3}"#).dropLast()),
    ]

    @Test("readers never yield a torn last line", arguments: tornTails)
    func readerHoldsBackTornLine(torn: String) throws {
        let store = try makeStore(directory, clock: clock)
        let good = try makeRun(store)
        appendText(store.path(of: id), torn)

        let journal = try store.openReader(id)
        let (seqs, end) = try readSeqs(journal)
        #expect(seqs == [1, 2, 3, 4])
        #expect(end == Int64(good.count))
        #expect(try journal.offset(afterSeq: 4) == Int64(good.count))
        #expect(try journal.offset(afterSeq: 100) == Int64(good.count))
        // A fresh store's summary does not count it either.
        let summary = try makeStore(directory).summary(of: id)
        #expect(summary.lastSeq == 4)
        #expect(summary.byteCount == Int64(good.count))
    }

    @Test("the next append truncates the torn tail and continues the seqs", arguments: tornTails)
    func appendRepairsTornTail(torn: String) throws {
        let writer = try makeStore(directory, clock: clock)
        let good = try makeRun(writer)
        appendText(writer.path(of: id), torn)

        let report = try JournalVerifier.verify(path: writer.path(of: id))
        #expect(report.tornTailBytes == Int64(torn.utf8.count))
        #expect(report.problems.isEmpty)
        #expect(!report.isClean)

        // A store that has never seen the file.
        let fresh = try makeStore(directory, clock: clock)
        #expect(try fresh.append(id, [try event("step", #"{"i":3}"#)]) == 5...5)
        let bytes = readBytes(fresh.path(of: id))
        #expect(Array(bytes.prefix(good.count)) == good)
        #expect(String(decoding: bytes.dropFirst(good.count), as: UTF8.self) == line(5, clock.nowMillis(), "step", #"{"i":3}"#))
        #expect(try JournalVerifier.verify(path: fresh.path(of: id)).isClean)
    }

    @Test("a store whose cached tail predates the torn write notices it and truncates it too")
    func cachedHandleNoticesTornTail() throws {
        let store = try makeStore(directory, clock: clock)
        let good = try makeRun(store)
        _ = try store.summary(of: id)  // warm both caches
        appendText(store.path(of: id), #"{"seq":5,"ts":"2026-11-25T01:02:03.456Z","type":"st"#)

        #expect(try store.append(id, [try event("step"), try event("run.completed")]) == 5...6)
        #expect(Array(readBytes(store.path(of: id)).prefix(good.count)) == good)
        #expect(try JournalVerifier.verify(path: store.path(of: id)).isClean)
        let summary = try store.summary(of: id)
        #expect(summary.lastSeq == 6)
        #expect(summary.status == .completed)
        #expect(summary == (try makeStore(directory).summary(of: id)))
    }

    @Test("a summary read while the tail is torn catches up once the line is completed")
    func summaryWaitsForCompletion() throws {
        let store = try makeStore(directory, clock: clock)
        _ = try makeRun(store)
        let full = line(5, clock.nowMillis(), "run.completed")
        appendText(store.path(of: id), String(full.dropLast(10)))
        #expect(try store.summary(of: id).lastSeq == 4)
        appendText(store.path(of: id), String(full.suffix(10)))
        let summary = try store.summary(of: id)
        #expect(summary.lastSeq == 5)
        #expect(summary.status == .completed)
    }

    @Test(
        "a torn tail after a last line longer than the tail window is still found and cut",
        arguments: [70_000, 300_000, 1_500_000])
    func tornTailAfterLongLine(length: Int) throws {
        let writer = try makeStore(directory, clock: clock)
        try writer.create(id: id)
        try writer.append(id, [try event("big", "\"" + String(repeating: "z", count: length) + "\"")])
        let good = readBytes(writer.path(of: id))
        appendText(writer.path(of: id), #"{"seq":3,"ts":"2026-11-25T01:02:03.456Z","ty"#)

        let fresh = try makeStore(directory, clock: clock)
        #expect(try fresh.append(id, [try event("after")]) == 3...3)
        #expect(Array(readBytes(fresh.path(of: id)).prefix(good.count)) == good)
        #expect(try JournalVerifier.verify(path: fresh.path(of: id)).isClean)
        #expect(try fresh.summary(of: id).lastSeq == 3)
    }

    @Test("a journal that is only a torn first line cannot be appended to")
    func onlyTornLine() throws {
        let store = try makeStore(directory, clock: clock)
        writeText(store.path(of: id), #"{"seq":1,"ts""#)
        let error = journalError { try store.append(id, [try event("step")]) }
        #expect(error?.code == "corrupt_journal")
        #expect(readText(store.path(of: id)) == #"{"seq":1,"ts""#)
    }
}
