import Foundation
import Testing

@testable import RunJournal

@Suite("Run catalog")
struct CatalogTests {
    let directory = TemporaryDirectory("catalog")
    let clock = ManualClock()
    let store: JournalStore

    init() throws {
        store = try makeStore(directory, clock: clock)
    }

    /// Creates `count` runs one millisecond apart (so generated ids are in creation order), oldest first.
    private func createRuns(_ count: Int) throws -> [RunID] {
        try (0..<count).map { index in
            clock.advance()
            return try store.create(metadata: Array(#"{"n":\#(index)}"#.utf8)).id
        }
    }

    private func ids(_ page: RunCatalog.Page) -> [RunID] { page.runs.map(\.id) }

    /// Every page of a listing, following the cursors.
    private func allPages(_ catalog: RunCatalog, status: RunStatus? = nil, limit: Int) throws -> [[RunID]] {
        var pages: [[RunID]] = []
        var cursor: RunID?
        repeat {
            let page = try catalog.list(status: status, limit: limit, after: cursor)
            pages.append(ids(page))
            cursor = page.nextCursor.map(runID)
        } while cursor != nil
        return pages
    }

    @Test("lists runs newest first")
    func newestFirst() throws {
        let created = try createRuns(7)
        let page = try RunCatalog(directory: directory.path).list(limit: 100)
        #expect(ids(page) == created.reversed())
        #expect(page.nextCursor == nil)
        #expect(page.runs.map { String(decoding: $0.metadata, as: UTF8.self) } == (0..<7).reversed().map { #"{"n":\#($0)}"# })
    }

    @Test("filters by status, one or several")
    func statusFilter() throws {
        let runs = try createRuns(6)
        try store.append(runs[1], [try event("run.started")])
        try store.append(runs[2], [try event("run.completed")])
        try store.append(runs[3], [try event("step")])
        try store.append(runs[4], [try event("run.failed")])
        try store.requestStop(runs[5])
        let catalog = RunCatalog(directory: directory.path)
        #expect(ids(try catalog.list(status: .running, limit: 10)) == [runs[3], runs[1]])
        #expect(ids(try catalog.list(status: .queued, limit: 10)) == [runs[5], runs[0]])
        #expect(ids(try catalog.list(status: .completed, limit: 10)) == [runs[2]])
        #expect(ids(try catalog.list(status: .stopped, limit: 10)) == [])
        #expect(ids(try catalog.list(statuses: [.completed, .failed, .stopped], limit: 10)) == [runs[4], runs[2]])
        #expect(try catalog.list(status: .queued, limit: 10).runs.first?.stopRequested == true)
    }

    @Test("limit cuts a page and the cursor continues it without gaps or repeats")
    func limitAndCursor() throws {
        let runs = try createRuns(10)
        let catalog = RunCatalog(directory: directory.path)
        let first = try catalog.list(limit: 3)
        #expect(ids(first) == Array(runs.reversed().prefix(3)))
        #expect(first.nextCursor == runs[7].rawValue)
        let pages = try allPages(catalog, limit: 3)
        #expect(pages.map(\.count) == [3, 3, 3, 1])
        #expect(pages.flatMap { $0 } == runs.reversed())
        // A limit that exactly fits leaves no cursor behind.
        #expect(try catalog.list(limit: 10).nextCursor == nil)
        #expect(try catalog.list(limit: 9).nextCursor == runs[1].rawValue)
    }

    @Test("pages with a status filter hold only matching runs and the cursor skips the rest")
    func filteredPaging() throws {
        let runs = try createRuns(9)
        for (index, id) in runs.enumerated() where index % 3 == 0 { try store.append(id, [try event("run.completed")]) }
        let pages = try allPages(RunCatalog(directory: directory.path), status: .completed, limit: 2)
        #expect(pages == [[runs[6], runs[3]], [runs[0]]])
    }

    @Test("the cursor is stable while new runs are created")
    func cursorStableUnderInserts() throws {
        let runs = try createRuns(6)
        let catalog = RunCatalog(directory: directory.path)
        let first = try catalog.list(limit: 2)
        #expect(ids(first) == [runs[5], runs[4]])
        let newer = try createRuns(5)
        let second = try catalog.list(limit: 2, after: first.nextCursor.map(runID))
        #expect(ids(second) == [runs[3], runs[2]])
        let third = try catalog.list(limit: 2, after: second.nextCursor.map(runID))
        #expect(ids(third) == [runs[1], runs[0]])
        #expect(third.nextCursor == nil)
        #expect(ids(try catalog.list(limit: 5)) == newer.reversed())
    }

    @Test("the index is persisted on listing and a fresh catalog reuses it")
    func indexPersistedAndReused() throws {
        let runs = try createRuns(3)
        let catalog = RunCatalog(directory: directory.path)
        let listed = try catalog.list(limit: 10).runs
        let indexPath = directory.file(".runs.index")
        var index = readText(indexPath)
        #expect(index.hasPrefix("runjournal-index 1\n"))
        #expect(index.split(separator: "\n").count == 4)

        // Tamper with one cached summary without touching the journal: a fresh catalog that shows the
        // tampered value must have taken it from the index rather than from the journal.
        let original = #"{"n":1}"#
        #expect(index.contains(original))
        index = index.replacingOccurrences(of: original, with: #"{"n":"from-index"}"#)
        writeText(indexPath, index)
        let reused = try RunCatalog(directory: directory.path).list(limit: 10).runs
        #expect(reused.map(\.id) == listed.map(\.id))
        #expect(String(decoding: reused.first { $0.id == runs[1] }!.metadata, as: UTF8.self) == #"{"n":"from-index"}"#)
    }

    @Test("deleting the index rebuilds identical results")
    func indexRebuilt() throws {
        let runs = try createRuns(5)
        try store.append(runs[0], [try event("run.failed", #"{"reason":"tab\tnew\nline"}"#)])
        try store.requestStop(runs[2])
        try store.append(runs[3], [try event("step")])
        let before = try RunCatalog(directory: directory.path).list(limit: 100).runs
        let fromIndex = try RunCatalog(directory: directory.path).list(limit: 100).runs
        #expect(fromIndex == before)
        try removeFile(directory.file(".runs.index"))
        let rebuilt = try RunCatalog(directory: directory.path).list(limit: 100).runs
        #expect(rebuilt == before)
        #expect(rebuilt.first { $0.id == runs[0] }?.terminalReason == "tab\tnew\nline")
        #expect(directory.names().contains(".runs.index"))
    }

    @Test("an index of another version is ignored and rewritten")
    func indexOtherVersion() throws {
        let runs = try createRuns(2)
        writeText(directory.file(".runs.index"), "runjournal-index 0\nrubbish\n")
        let catalog = RunCatalog(directory: directory.path)
        #expect(ids(try catalog.list(limit: 10)) == runs.reversed())
        catalog.flushIndex()
        #expect(readText(directory.file(".runs.index")).hasPrefix("runjournal-index 1\n"))
    }

    @Test("a journal changed behind the index is refreshed")
    func journalChangedBehindIndex() throws {
        let runs = try createRuns(3)
        let catalog = RunCatalog(directory: directory.path)
        _ = try catalog.list(limit: 10)
        catalog.flushIndex()

        try store.append(runs[1], [try event("run.started"), try event("run.completed", #"{"reason":"done"}"#)])
        let fresh = try RunCatalog(directory: directory.path).list(limit: 10).runs
        let refreshed = try #require(fresh.first { $0.id == runs[1] })
        #expect(refreshed.status == .completed)
        #expect(refreshed.lastSeq == 3)
        #expect(refreshed.terminalReason == "done")
        #expect(refreshed == (try store.summary(of: runs[1])))
        // The catalog that was already warm refreshes too.
        #expect(try catalog.list(status: .completed, limit: 10).runs.map(\.id) == [runs[1]])
    }

    @Test("a deleted journal leaves the listing, a new one joins it")
    func deletedAndNewRuns() throws {
        let runs = try createRuns(3)
        let catalog = RunCatalog(directory: directory.path)
        _ = try catalog.list(limit: 10)
        try removeFile(store.path(of: runs[1]))
        let added = try createRuns(1)
        #expect(ids(try catalog.list(limit: 10)) == [added[0], runs[2], runs[0]])
        #expect(ids(try RunCatalog(directory: directory.path).list(limit: 10)) == [added[0], runs[2], runs[0]])
    }

    @Test("a deleted run's entry leaves the persisted index")
    func deletedRunLeavesIndex() throws {
        let runs = try createRuns(4)
        let catalog = RunCatalog(directory: directory.path)
        _ = try catalog.list(limit: 10)
        catalog.flushIndex()
        #expect(readText(directory.file(".runs.index")).contains(runs[0].rawValue))
        try removeFile(store.path(of: runs[0]))
        // Even a listing that stops after one run: the directory read already says which runs exist.
        #expect(ids(try catalog.list(limit: 1)) == [runs[3]])
        _ = try createRuns(1)  // something changed, so the index is written again
        _ = try catalog.list(limit: 10)
        catalog.flushIndex()
        let index = readText(directory.file(".runs.index"))
        #expect(!index.contains(runs[0].rawValue))
        #expect(index.split(separator: "\n").count == 5)
    }

    @Test("only <valid-id>.jsonl files are runs")
    func onlyJournalsAreRuns() throws {
        let runs = try createRuns(2)
        for name in [".create-01abc.tmp", ".runs.index.tmp-x", ".hidden.jsonl", "bad id.jsonl", "notes.txt", "x.jsonl.bak", "-x.jsonl", ".jsonl"] {
            writeText(directory.file(name), "junk\n")
        }
        try makeDirectory(directory.file("sub"))
        let catalog = RunCatalog(directory: directory.path)
        #expect(try catalog.runIDs() == runs)
        #expect(ids(try catalog.list(limit: 10)) == runs.reversed())
        #expect(try catalog.all().count == 2)
    }

    @Test("a damaged journal is skipped instead of breaking the listing")
    func damagedJournalSkipped() throws {
        let runs = try createRuns(2)
        writeText(directory.file("broken.jsonl"), "not a journal\n")
        writeText(directory.file("empty.jsonl"), "")
        let listed = ids(try RunCatalog(directory: directory.path).list(limit: 10))
        #expect(listed == runs.reversed())
    }

    @Test("listing a missing directory is an io error")
    func missingDirectory() {
        let catalog = RunCatalog(directory: directory.file("nope"))
        #expect(journalError { try catalog.list(limit: 1) }?.code == "io_error")
    }
}
