import Foundation
import Synchronization
import Testing

@testable import RunJournal
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// `JournalStore.deleteIf`: retention's delete decided and done under the appenders' `flock`, so no append
/// is ever acknowledged into an unlinked journal.
@Suite("Store: deleting a journal under its lock")
struct DeleteTests {
    @Test("a journal whose state satisfies the condition is unlinked and its handle forgotten")
    func deletesWhenTheConditionHolds() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let id = try store.create(id: runID("r1")).id
        try store.append(id, [try event("run.completed")])
        guard case .deleted(let summary) = try store.deleteIf(id, { $0.status == .completed }) else {
            Issue.record("not deleted")
            return
        }
        #expect(summary.lastSeq == 2)
        #expect(!store.exists(id))
        #expect(journalError { try store.append(id, [try event("progress")]) } == .runNotFound(id))
        #expect(try store.deleteIf(id) { _ in true } == .notFound)
    }

    @Test("the condition is evaluated on the journal's current state, not on an earlier scan")
    func conditionSeesTheCurrentState() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let id = try store.create(id: runID("r1")).id
        let scanned = try store.summary(of: id)
        try store.append(id, [try event("progress")])  // after the scan
        let outcome = try store.deleteIf(id) { $0.lastSeq == scanned.lastSeq }
        guard case .kept(let fresh) = outcome else {
            Issue.record("deleted a run that moved on: \(outcome)")
            return
        }
        #expect(fresh.lastSeq == 2)
        #expect(store.exists(id))
    }

    @Test("a delete waits for an appender inside the lock and then decides on the state including its event")
    func deleteWaitsForTheAppenderInsideTheLock() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let id = try store.create(id: runID("r1")).id
        let path = store.path(of: id)
        let scanned = try store.summary(of: id)

        // The test is the appender: it holds the lock (and has checked the link count, as appends do).
        let appender = open(path, O_WRONLY | O_APPEND)
        #expect(appender >= 0)
        defer { close(appender) }
        #expect(flock(appender, LOCK_EX) == 0)

        let outcome = LockedValue<JournalStore.DeleteOutcome?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            let result = try? store.deleteIf(id) { $0.lastSeq == scanned.lastSeq }
            outcome.withLock { $0 = result }
            finished.signal()
        }.start()
        #expect(waitUntil { someoneWaitsForFlock(on: path) }, "the delete never waited for the lock")
        guard store.exists(id) else {
            Issue.record("unlinked while an appender held the lock: its event would go to a deleted file")
            _ = flock(appender, LOCK_UN)
            finished.wait()
            return
        }

        // The append the appender acknowledges: it must land in a journal that still exists afterwards.
        appendText(path, line(2, 1_795_568_523_457, "progress"))
        #expect(flock(appender, LOCK_UN) == 0)
        finished.wait()
        if case .kept(let fresh)? = outcome.withLock({ $0 }) {
            #expect(fresh.lastSeq == 2)
        } else {
            Issue.record("expected the run to be kept, got \(String(describing: outcome.withLock { $0 }))")
        }
        #expect(journalLines(path).count == 2)
    }

    @Test("an append that waits for the lock while the journal is deleted is refused: the run is gone")
    func appendWaitingDuringDeleteIsRefused() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let id = try store.create(id: runID("r1")).id
        let path = store.path(of: id)
        // Another process's store (its own descriptor, its own flock), already holding a handle.
        let other = try makeStore(directory)
        _ = try other.summary(of: id)

        let appendResult = LockedValue<JournalError?>(nil)
        let appended = DispatchSemaphore(value: 0)
        let outcome = try store.deleteIf(id) { _ in
            // Under the delete's lock: an appender arrives and has to wait.
            Thread {
                let error = journalError { try other.append(id, [try event("progress")]) }
                appendResult.withLock { $0 = error }
                appended.signal()
            }.start()
            #expect(waitUntil { someoneWaitsForFlock(on: path) }, "the append did not wait for the lock")
            return true
        }
        appended.wait()
        guard case .deleted = outcome else {
            Issue.record("not deleted: \(outcome)")
            return
        }
        #expect(appendResult.withLock { $0 } == .runNotFound(id), "acknowledged into an unlinked journal?")
        #expect(!store.exists(id))
    }
}
