import Testing

@testable import RunJournal
import SystemSupport

@Suite("Creating runs")
struct CreateTests {
    let directory = TemporaryDirectory("create")
    let clock = ManualClock()

    @Test("create writes <dir>/<id>.jsonl and leaves no temporary file behind")
    func createsJournal() throws {
        let store = try makeStore(directory, clock: clock)
        let summary = try store.create(id: runID("build-7"))
        #expect(directory.names() == ["build-7.jsonl"])
        #expect(store.path(of: runID("build-7")) == directory.path + "/build-7.jsonl")
        #expect(readText(directory.file("build-7.jsonl")) == line(1, clock.nowMillis(), "run.created", #"{"metadata":{}}"#))
        #expect(summary.id == runID("build-7"))
        #expect(summary.status == .queued)
        #expect(summary.lastSeq == 1)
        #expect(summary.byteCount == fileSize(directory.file("build-7.jsonl")))
        #expect(try store.summary(of: summary.id) == summary)
        #expect(store.exists(summary.id))
    }

    @Test("create without an id generates a time-ordered run_<ulid> id")
    func generatesID() throws {
        let store = try makeStore(directory, clock: clock)
        let first = try store.create().id
        clock.advance()
        let second = try store.create().id
        #expect(first.rawValue.hasPrefix("run_") && first.rawValue.count == 30)
        #expect(first < second)
        #expect(directory.names() == [first.rawValue + ".jsonl", second.rawValue + ".jsonl"])
    }

    @Test("creating an existing id fails with runExists, keeps the original and leaves no temp file")
    func createTwice() throws {
        let store = try makeStore(directory, clock: clock)
        let id = runID("dup")
        try store.create(id: id, metadata: Array(#"{"n":1}"#.utf8))
        try store.append(id, [try event("run.started")])
        let before = directory.snapshot()
        clock.advance()
        #expect(journalError { try store.create(id: id, metadata: Array(#"{"n":2}"#.utf8)) } == .runExists(id))
        #expect(directory.snapshot() == before)
        // Another store (another process) gets the same answer.
        #expect(journalError { try makeStore(directory).create(id: id) } == .runExists(id))
        #expect(directory.snapshot() == before)
        #expect(JournalError.runExists(id).description == "run dup already exists")
    }

    @Test("metadata is compacted and kept byte for byte otherwise")
    func metadataCompacted() throws {
        let store = try makeStore(directory, clock: clock)
        let summary = try store.create(id: runID("m"), metadata: Array(" {\n \"b\" : \"x y\", \"a\":[1, 2.50, {}]\t}\n".utf8))
        #expect(String(decoding: summary.metadata, as: UTF8.self) == #"{"b":"x y","a":[1,2.50,{}]}"#)
        #expect(readText(store.path(of: summary.id)).contains(#""data":{"metadata":{"b":"x y","a":[1,2.50,{}]}}}"#))
        let reread = try makeStore(directory).summary(of: summary.id)
        #expect(reread.metadata == summary.metadata)
    }

    @Test("metadata that is not a JSON object is refused and nothing is created", arguments: ["[1]", "\"x\"", "1", "null", "true", " [ ] "])
    func metadataNotObject(metadata: String) throws {
        let store = try makeStore(directory, clock: clock)
        let error = journalError { try store.create(id: runID("m"), metadata: Array(metadata.utf8)) }
        #expect(error == .invalidJSON(offset: -1, reason: "metadata must be a JSON object"))
        #expect(directory.names().isEmpty)
    }

    @Test("malformed metadata is refused with the byte offset of the problem")
    func metadataMalformed() throws {
        let store = try makeStore(directory, clock: clock)
        let error = journalError { try store.create(id: runID("m"), metadata: Array(#"{"a":1,}"#.utf8)) }
        guard case .invalidJSON(let offset, _)? = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
        #expect(offset == 7)
        #expect(journalError { try store.create(id: runID("m"), metadata: []) }?.code == "invalid_json")
        #expect(directory.names().isEmpty)
    }

    @Test("concurrent creates of one id: exactly one wins, the others get runExists")
    func concurrentCreates() throws {
        let store = try makeStore(directory, clock: clock)
        let id = runID("race")
        let results = Box<[Result<Void, JournalError>]>([])
        let lock = ConditionLock()
        runOnThreads(8) { _ in
            let result: Result<Void, JournalError>
            do {
                try store.create(id: id)
                result = .success(())
            } catch let error as JournalError {
                result = .failure(error)
            } catch {
                result = .failure(.invalidBatch("unexpected \(error)"))
            }
            lock.withLock { results.value.append(result) }
        }
        let successes = results.value.filter { if case .success = $0 { return true } else { return false } }.count
        #expect(successes == 1)
        for result in results.value {
            if case .failure(let error) = result { #expect(error == .runExists(id)) }
        }
        #expect(directory.names() == ["race.jsonl"])
        #expect(journalLines(store.path(of: id)).count == 1)
    }
}
