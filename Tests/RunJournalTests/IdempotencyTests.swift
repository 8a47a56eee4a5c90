import Foundation
import Synchronization
import Testing
@testable import RunJournal
import SystemSupport

/// Retries never duplicate: a keyed append or create answers the original result and appends nothing; the key
/// lives in the journal, so it holds across stores (restarts, other processes) and crashes.
@Suite("Idempotency keys and conditional appends")
struct IdempotencyTests {
    private func record(_ key: String, _ body: String) throws -> IdempotencyRecord {
        try IdempotencyRecord(key: key, body: Array(body.utf8))
    }

    @Test("a retried batch answers its original seqs and appends nothing; another body under the key is refused")
    func appendRetry() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory)
        let id = runID("a")
        try store.create(id: id)
        let batch = try (0..<3).map { try event("step", #"{"i":\#($0)}"#) }
        let first = try store.append(id, batch, conditions: AppendConditions(idempotency: try record("k-1", "body")))
        #expect(first == JournalStore.AppendResult(seqs: 2...4, replayed: false))
        try store.append(id, [try event("other")])
        let retry = try store.append(id, batch, conditions: AppendConditions(idempotency: try record("k-1", "body")))
        #expect(retry == JournalStore.AppendResult(seqs: 2...4, replayed: true))
        #expect(try store.summary(of: id).lastSeq == 5)
        #expect(journalError {
            try store.append(id, batch, conditions: AppendConditions(idempotency: try record("k-1", "another body")))
        } == .idempotencyKeyReused(id, key: "k-1"))
        // The key is on the batch's last line, where jq and grep see it.
        let lines = journalLines(store.path(of: id))
        #expect(lines[3].contains(#""idempotency":{"key":"k-1","request":""#))
        #expect(lines[3].contains(#""first_seq":2}"#))
        #expect(!lines[1].contains("idempotency") && lines[1].contains(#""more":true"#))
        #expect(try JournalVerifier.verify(path: store.path(of: id)).isClean)
    }

    @Test("keys survive a restart: a new store rebuilds them from the journal")
    func keysSurviveRestart() throws {
        let directory = try TemporaryDirectory()
        let id = runID("r")
        do {
            let store = try makeStore(directory)
            try store.create(id: id)
            try store.append(id, [try event("one")], conditions: AppendConditions(idempotency: try record(#"quote " and \ slash"#, "b")))
        }
        let restarted = try makeStore(directory)
        let retry = try restarted.append(id, [try event("one")], conditions: AppendConditions(idempotency: try record(#"quote " and \ slash"#, "b")))
        #expect(retry == JournalStore.AppendResult(seqs: 2...2, replayed: true))
        #expect(try restarted.summary(of: id).lastSeq == 2)
    }

    @Test("concurrent retries of one keyed batch append it once")
    func concurrentRetries() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory, fsync: .always)
        let id = runID("c")
        try store.create(id: id)
        let results = LockedValue<[JournalStore.AppendResult]>([])
        runOnThreads(8) { _ in
            let result = try! store.append(id, [try! event("once")], conditions: AppendConditions(idempotency: try! IdempotencyRecord(key: "same", body: Array("x".utf8))))
            results.withLock { $0.append(result) }
        }
        let all = results.withLock { $0 }
        #expect(all.count == 8)
        #expect(Set(all.map(\.seqs)) == [2...2])
        #expect(all.filter { !$0.replayed }.count == 1)
        #expect(try store.summary(of: id).lastSeq == 2)
    }

    @Test("keys are validated: 1-128 printable ASCII")
    func keyValidation() throws {
        for bad in ["", String(repeating: "k", count: 129), "tab\there", "é"] {
            #expect(journalError { try record(bad, "b") }?.code == "invalid_idempotency_key")
        }
        _ = try record(String(repeating: "k", count: 128), "b")
        _ = try record(" ~!\"#\\", "b")
    }

    @Test("a keyed create without an id reaches the same run on retry, across stores; another body is refused")
    func createRetryWithoutID() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory)
        let first = try store.create(id: nil, metadata: Array(#"{"a":1}"#.utf8), idempotency: try record("c-1", "m"))
        #expect(!first.replayed)
        try store.append(first.summary.id, [try event("step")])
        let retry = try makeStore(directory).create(id: nil, metadata: Array(#"{"a":1}"#.utf8), idempotency: try record("c-1", "m"))
        #expect(retry.replayed)
        #expect(retry.summary == first.summary, "the original answer: the run as it was created")
        #expect(try RunCatalog(directory: directory.path).runIDs() == [first.summary.id])
        #expect(journalError { try store.create(id: nil, metadata: nil, idempotency: try record("c-1", "other")) }
            == .idempotencyKeyReused(first.summary.id, key: "c-1"))
        // A key bound to an id whose run a crash kept from being created: the retry creates it.
        let bound = try store.create(id: nil, metadata: nil, idempotency: try record("c-2", "m"))
        try removeFile(store.path(of: bound.summary.id))
        let resumed = try store.create(id: nil, metadata: nil, idempotency: try record("c-2", "m"))
        #expect(!resumed.replayed && resumed.summary.id == bound.summary.id)
    }

    @Test("a keyed create with an id: the retry is answered, a create of that id without the key is still 409")
    func createRetryWithID() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory)
        let id = runID("named")
        #expect(!(try store.create(id: id, metadata: nil, idempotency: try record("n", "b")).replayed))
        #expect(try store.create(id: id, metadata: nil, idempotency: try record("n", "b")).replayed)
        #expect(journalError { try store.create(id: id) } == .runExists(id))
        #expect(journalError { try store.create(id: id, metadata: nil, idempotency: try record("other-key", "b")) } == .runExists(id))
        #expect(journalError { try store.create(id: id, metadata: nil, idempotency: try record("n", "c")) } == .idempotencyKeyReused(id, key: "n"))
    }

    @Test("If-Match: an append is made only when the run's last seq is the expected one")
    func conditionalAppend() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory)
        let id = runID("m")
        try store.create(id: id)
        #expect(try store.append(id, [try event("one")], conditions: AppendConditions(expectedLastSeq: 1)).seqs == 2...2)
        #expect(journalError { try store.append(id, [try event("two")], conditions: AppendConditions(expectedLastSeq: 1)) }
            == .lastSeqMismatch(id, expected: 1, actual: 2))
        #expect(try store.summary(of: id).lastSeq == 2)
        // Two writers racing on the same expected seq: exactly one wins.
        let wins = Atomic<Int>(0)
        runOnThreads(8) { _ in
            if (try? store.append(id, [try! event("race")], conditions: AppendConditions(expectedLastSeq: 2))) != nil {
                wins.add(1, ordering: .relaxed)
            }
        }
        #expect(wins.load(ordering: .relaxed) == 1)
    }

    @Test("a retry answered by a store that did not write the batch waits for a sync of it (the writer may have died before its own)")
    func retryInAnotherStoreIsSyncedFirst() throws {
        let directory = try TemporaryDirectory()
        let id = runID("s")
        // The original writer appended the keyed batch and was killed before its fdatasync: the batch may be
        // only in the page cache, and its client was never answered.
        let writer = try makeStore(directory, fsync: .never)
        try writer.create(id: id)
        try writer.append(id, [try event("one")], conditions: AppendConditions(idempotency: try record("k", "b")))
        // The client retries against another responder: it may answer 201 only once the batch is on disk.
        let syncs = Atomic<Int>(0)
        let responder = try JournalStore(
            directory: directory.path, fsyncPolicy: .always, clock: ManualClock(),
            faults: StoreFaults { operation, path in
                if operation == .fdatasync && path.hasSuffix("s.jsonl") { syncs.add(1, ordering: .relaxed) }
                return nil
            })
        let retry = try responder.append(id, [try event("one")], conditions: AppendConditions(idempotency: try record("k", "b")))
        #expect(retry == JournalStore.AppendResult(seqs: 2...2, replayed: true))
        #expect(syncs.load(ordering: .relaxed) == 1, "the retry was acknowledged without a sync covering the batch")
    }
}
