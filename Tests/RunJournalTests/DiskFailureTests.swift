import Foundation
import Synchronization
import Testing
@testable import RunJournal
import SystemSupport

/// A failing disk, through the store's fault seam: a write or sync that fails makes the journal failed, nobody
/// waiting on that sync is acknowledged, nothing is ever synced twice to "clear" an error, and only a repair
/// (a rewrite into a new synced file) makes the run appendable again.
@Suite("Disk failures: failed journals, short writes, repair")
struct DiskFailureTests {
    /// A store whose fault seam asks `faults`; fsync=always unless said otherwise.
    private func store(
        _ directory: TemporaryDirectory, fsync: FsyncPolicy = .always, faults: StoreFaults
    ) throws -> JournalStore {
        try JournalStore(directory: directory.path, fsyncPolicy: fsync, clock: ManualClock(), faults: faults)
    }

    @Test("group commit: eight appenders wait on one sync that fails, and not one of them is acknowledged")
    func groupCommitFailure() throws {
        let directory = try TemporaryDirectory()
        let writes = Atomic<Int>(0)
        let syncs = Atomic<Int>(0)
        let armed = Atomic<Bool>(false)
        let faults = StoreFaults { operation, path in
            guard path.hasSuffix("g.jsonl"), armed.load(ordering: .sequentiallyConsistent) else { return nil }
            switch operation {
            case .write:
                writes.add(1, ordering: .sequentiallyConsistent)
                return nil
            case .fdatasync:
                // The first sync waits until all eight appenders have written (so seven wait on it), then
                // fails. Every later sync would succeed: that is fsyncgate, and nobody may rely on it.
                guard syncs.add(1, ordering: .sequentiallyConsistent).newValue == 1 else { return nil }
                let deadline = Date().addingTimeInterval(30)
                while writes.load(ordering: .sequentiallyConsistent) < 8 && Date() < deadline { usleep(1000) }
                usleep(20_000)  // let the seven reach their wait
                return .fail(errno: EIO)
            default:
                return nil
            }
        }
        let store = try store(directory, faults: faults)
        let id = runID("g")
        try store.create(id: id)
        _ = try store.summary(of: id)  // the handle is open (and its open-time sync done) before the disk fails
        armed.store(true, ordering: .sequentiallyConsistent)
        let acknowledged = LockedValue<[ClosedRange<Int64>]>([])
        let refused = LockedValue<[JournalError]>([])
        runOnThreads(8) { index in
            do {
                let seqs = try store.append(id, [try event("step", #"{"i":\#(index)}"#)])
                acknowledged.withLock { $0.append(seqs) }
            } catch let error as JournalError {
                refused.withLock { $0.append(error) }
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(writes.load(ordering: .sequentiallyConsistent) == 8)
        #expect(acknowledged.withLock { $0 }.isEmpty, "acknowledged after a failed sync: \(acknowledged.withLock { $0 })")
        let errors = refused.withLock { $0 }
        #expect(errors.count == 8)
        #expect(errors.allSatisfy { $0.code == "journal_failed" })
        // The sync was never retried to clear the error: exactly one fdatasync ran.
        #expect(syncs.load(ordering: .sequentiallyConsistent) == 1)
        // Every later append is refused too, and the marker says why.
        #expect(journalError { try store.append(id, [try event("later")]) } == .journalFailed(id, operation: "fdatasync", errno: EIO))
        let marker = try #require(JournalFailure.readMarker(forJournal: store.path(of: id)))
        #expect(marker.operation == "fdatasync" && marker.errno == EIO)
        #expect(marker.durableSize == fileSize(store.path(of: id)) - Int64(journalLines(store.path(of: id)).dropFirst().map { $0.utf8.count + 1 }.reduce(0, +)))
    }

    @Test("a failed journal stays failed for a new store (a restarted responder, another process) until repaired")
    func failureSurvivesRestart() throws {
        let directory = try TemporaryDirectory()
        let failing = Atomic<Bool>(true)
        let store = try store(directory, faults: StoreFaults { operation, _ in
            operation == .fdatasync && failing.load(ordering: .relaxed) ? .fail(errno: EIO) : nil
        })
        let id = runID("r")
        failing.store(false, ordering: .relaxed)
        try store.create(id: id)
        try store.append(id, [try event("one")])
        failing.store(true, ordering: .relaxed)
        #expect(journalError { try store.append(id, [try event("two")]) }?.code == "journal_failed")

        // A new process: its own store, no faults, a fresh descriptor whose fdatasync would return 0.
        let restarted = try JournalStore(directory: directory.path, fsyncPolicy: .always, clock: ManualClock())
        #expect(journalError { try restarted.append(id, [try event("three")]) }?.code == "journal_failed")
        #expect(try restarted.failure(of: id)?.operation == "fdatasync")
        // Reading still works, and a reader is shown only what the last good sync covered.
        #expect(try restarted.summary(of: id).lastSeq == 3)
        let journal = try restarted.openReader(id)
        let visible = try restarted.visibleSize(of: journal, id: id)
        #expect(visible.failed)
        #expect(visible.size < fileSize(restarted.path(of: id)))
        #expect(try readSeqs(journal).seqs == [1, 2, 3])
        var shown: [Int64] = []
        try journal.forEachLine(from: 0, limit: visible.size) { shown.append($0.seq); return true }
        #expect(shown == [1, 2])

        // Other runs keep working.
        try restarted.create(id: runID("other"))
        try restarted.append(runID("other"), [try event("fine")])

        // The repair rewrites what is readable into a new synced file and removes the marker.
        let report = try JournalVerifier.repair(path: restarted.path(of: id))
        #expect(report.rewritten)
        #expect(report.problems.isEmpty)
        #expect(JournalFailure.readMarker(forJournal: restarted.path(of: id)) == nil)
        // Both the restarted store and the original one (whose handle points at the old file) append again.
        #expect(try restarted.append(id, [try event("four")]) == 4...4)
        failing.store(false, ordering: .relaxed)
        #expect(try store.append(id, [try event("five")]) == 5...5)
        #expect(try JournalVerifier.verify(path: store.path(of: id)).isClean)
    }

    @Test("a repair on a disk that still fails says why and changes nothing")
    func repairThatCannotSync() throws {
        let directory = try TemporaryDirectory()
        let store = try store(directory, faults: StoreFaults { operation, path in
            operation == .fdatasync && path.hasSuffix("x.jsonl") ? .fail(errno: EIO) : nil
        })
        let id = runID("x")
        try store.create(id: id)
        #expect(journalError { try store.append(id, [try event("one")]) }?.code == "journal_failed")
        let before = readBytes(store.path(of: id))
        for fault in [StoreFaults.Operation.fdatasync, .rename, .write] {
            let error = journalError {
                try JournalVerifier.repair(path: store.path(of: id), faults: StoreFaults { operation, _ in
                    operation == fault ? .fail(errno: EIO) : nil
                })
            }
            #expect(error != nil, "repair with a failing \(fault) must throw")
            #expect(readBytes(store.path(of: id)) == before)
            #expect(JournalFailure.readMarker(forJournal: store.path(of: id)) != nil)
            #expect(!directory.names().contains { $0.hasPrefix(".repair-") })
        }
    }

    @Test("a short write in the middle of a batch: a reader following the journal never sees part of it, and no seq it saw is reused")
    func shortWriteMidBatch() throws {
        let directory = try TemporaryDirectory()
        let mode = LockedValue<StoreFaults.Fault?>(nil)
        let store = try store(directory, fsync: .never, faults: StoreFaults { operation, path in
            guard path.hasSuffix("s.jsonl") else { return nil }
            switch operation {
            case .write: return mode.withLock { $0 }
            case .ftruncate: return mode.withLock { $0 } == nil ? nil : .fail(errno: EIO)  // the cut fails too
            default: return nil
            }
        })
        let id = runID("s")
        try store.create(id: id)
        try store.append(id, [try event("before")])
        let reader = try store.openReader(id)
        var (seen, end) = try readSeqs(reader)
        #expect(seen == [1, 2])

        // Three complete lines of a five-event batch reach the file, then the write fails.
        let batch = try (0..<5).map { try event("batch", #"{"i":\#($0)}"#) }
        var encoded = [UInt8]()
        for index in 0..<3 { EventLine.append(seq: Int64(3 + index), millis: 0, type: try EventType("batch"), compactData: Array(#"{"i":\#(index)}"#.utf8), more: true, to: &encoded) }
        mode.withLock { $0 = .shortWrite(bytes: encoded.count + 10, errno: EIO) }
        #expect(journalError { try store.append(id, batch) }?.code == "journal_failed")
        #expect(fileSize(store.path(of: id)) > end, "the torn batch is still in the file")

        // The reader following from where it was sees nothing of it.
        (seen, end) = try readSeqs(reader, from: end)
        #expect(seen.isEmpty)
        let report = try JournalVerifier.verify(path: store.path(of: id))
        #expect(report.problems.isEmpty)
        #expect(report.lineCount == 2)
        #expect(report.tornTailBytes == Int64(encoded.count + 10))

        // Repair cuts the uncommitted lines; the next batch gets seqs 3... (never seen by anyone before).
        mode.withLock { $0 = nil }
        #expect(try JournalVerifier.repair(path: store.path(of: id)).rewritten)
        let repaired = try JournalStore(directory: directory.path, fsyncPolicy: .never, clock: ManualClock())
        #expect(try repaired.append(id, batch) == 3...7)
        #expect(try readSeqs(try repaired.openReader(id)).seqs == Array(1...7))
    }

    @Test("a full disk refuses the append before a byte is written; the journal stays good and appends resume")
    func fullDiskReservation() throws {
        let directory = try TemporaryDirectory()
        let full = Atomic<Bool>(false)
        let store = try store(directory, faults: StoreFaults { operation, _ in
            operation == .fallocate && full.load(ordering: .relaxed) ? .fail(errno: ENOSPC) : nil
        })
        let id = runID("f")
        try store.create(id: id)
        full.store(true, ordering: .relaxed)
        let before = readBytes(store.path(of: id))
        #expect(journalError { try store.append(id, [try event("one")]) } == .io(operation: "fallocate", path: store.path(of: id), errno: ENOSPC))
        #expect(readBytes(store.path(of: id)) == before)
        #expect(try store.failure(of: id) == nil)
        full.store(false, ordering: .relaxed)
        #expect(try store.append(id, [try event("one")]) == 2...2)
    }

    @Test("a write that fails with EIO fails the journal; a refused write (ENOSPC) cleaned up leaves it appendable")
    func failedWrite() throws {
        let directory = try TemporaryDirectory()
        let failing = LockedValue<StoreFaults.Fault?>(nil)
        let cutFails = Atomic<Bool>(false)
        let store = try store(directory, faults: StoreFaults { operation, _ in
            switch operation {
            case .write: return failing.withLock { $0 }
            case .ftruncate: return cutFails.load(ordering: .relaxed) ? .fail(errno: EIO) : nil
            default: return nil
            }
        })
        // ENOSPC from write itself (a filesystem that cannot reserve): refused, file as it was, still good.
        let refused = runID("n")
        try store.create(id: refused)
        failing.withLock { $0 = .shortWrite(bytes: 20, errno: ENOSPC) }
        #expect(journalError { try store.append(refused, [try event("one")]) } == .io(operation: "write", path: store.path(of: refused), errno: ENOSPC))
        failing.withLock { $0 = nil }
        #expect(try store.append(refused, [try event("two")]) == 2...2)

        // The same refusal when the cut fails: the partial bytes may stay, so the journal fails.
        let uncut = runID("u")
        try store.create(id: uncut)
        failing.withLock { $0 = .shortWrite(bytes: 20, errno: ENOSPC) }
        cutFails.store(true, ordering: .relaxed)
        #expect(journalError { try store.append(uncut, [try event("one")]) } == .journalFailed(uncut, operation: "write", errno: ENOSPC))
        cutFails.store(false, ordering: .relaxed)
        failing.withLock { $0 = nil }

        // EIO: the device failed; the journal fails, and stays failed.
        let broken = runID("w")
        try store.create(id: broken)
        failing.withLock { $0 = .fail(errno: EIO) }
        #expect(journalError { try store.append(broken, [try event("one")]) } == .journalFailed(broken, operation: "write", errno: EIO))
        failing.withLock { $0 = nil }
        #expect(journalError { try store.append(broken, [try event("two")]) } == .journalFailed(broken, operation: "write", errno: EIO))
    }

    @Test("the interval flusher's failed sync fails the journal: later appends are refused")
    func intervalFlusherFailure() throws {
        let directory = try TemporaryDirectory()
        let store = try store(directory, fsync: .interval(milliseconds: 5), faults: StoreFaults { operation, path in
            operation == .fdatasync && path.hasSuffix("i.jsonl") ? .fail(errno: EIO) : nil
        })
        let id = runID("i")
        try store.create(id: id)
        try store.append(id, [try event("one")])  // acknowledged at once, synced by the flusher (which fails)
        let deadline = Date().addingTimeInterval(30)
        while (try? store.failure(of: id)) == nil, Date() < deadline { usleep(2000) }
        #expect(try store.failure(of: id)?.operation == "fdatasync")
        #expect(journalError { try store.append(id, [try event("two")]) }?.code == "journal_failed")
    }

    @Test("a failed link or directory sync on create: no acknowledged run that may vanish")
    func createFailures() throws {
        let directory = try TemporaryDirectory()
        let linking = try store(directory, faults: StoreFaults { operation, _ in operation == .link ? .fail(errno: EIO) : nil })
        #expect(journalError { try linking.create(id: runID("l")) }?.code == "io_error")
        #expect(!linking.exists(runID("l")))
        #expect(directory.names().allSatisfy { !$0.hasPrefix(".create-") })

        let syncing = try store(directory, faults: StoreFaults { operation, path in
            operation == .fdatasync && path == directory.path ? .fail(errno: EIO) : nil
        })
        #expect(journalError { try syncing.create(id: runID("d")) }?.code == "journal_failed")
        #expect(journalError { try syncing.append(runID("d"), [try event("one")]) }?.code == "journal_failed")
    }

    @Test("durable before visible: a reader's size is taken before its sync, so a line written during the sync is not shown")
    func visibleSizeIsTakenBeforeTheSync() throws {
        let directory = try TemporaryDirectory()
        let inject = LockedValue<String?>(nil)
        let store = try store(directory, faults: StoreFaults { operation, path in
            // While the reader syncs, another writer's line lands (written behind the store's back).
            if operation == .fdatasync, let line = inject.withLock({ value -> String? in defer { value = nil }; return value }) {
                appendText(path, line)
            }
            return nil
        })
        let id = runID("v")
        try store.create(id: id)
        try store.append(id, [try event("one")])
        let journal = try store.openReader(id)
        let before = fileSize(store.path(of: id))
        inject.withLock { $0 = line(3, 0, "two") }
        let visible = try store.visibleSize(of: journal, id: id)
        #expect(fileSize(store.path(of: id)) > before, "the line landed during the sync")
        #expect(visible.size == before)
        #expect(!visible.failed)
    }

    @Test("space is reserved ahead of small appends, and a run that ends gives back what it did not use")
    func reservationIsGivenBackAtTheEnd() throws {
        let directory = try TemporaryDirectory()
        let reservations = LockedValue(0)
        let store = try store(directory, faults: StoreFaults { operation, _ in
            if operation == .fallocate { reservations.withLock { $0 += 1 } }
            return nil
        })
        let id = runID("e")
        try store.create(id: id)
        for index in 0..<20 { try store.append(id, [try event("step", #"{"i":\#(index)}"#)]) }
        // 20 small appends fit in one reservation.
        #expect(reservations.withLock { $0 } == 1)
        func allocatedBytes() -> Int64 {
            var info = stat()
            return stat(store.path(of: id), &info) == 0 ? Int64(info.st_blocks) * 512 : 0
        }
        let reserved = allocatedBytes()
        try store.append(id, [try event("run.completed")])
        let size = fileSize(store.path(of: id))
        if reserved >= 16 * 1024 {  // the filesystem preallocates (tmpfs and ext4 do)
            #expect(allocatedBytes() < reserved)
            #expect(allocatedBytes() <= (size + 4095) / 4096 * 4096)
        } else {
            print("the filesystem of \(directory.path) does not preallocate; only the reservation count was checked")
        }
    }

    @Test("a journal another process failed without changing its size (a failed write it cut off) is refused here too")
    func failureByAnotherWriterAtTheSameSize() throws {
        let directory = try TemporaryDirectory()
        let id = runID("p")
        // This process has the journal open and has appended: its handle knows the file's end.
        let responder = try store(directory, faults: StoreFaults())
        try responder.create(id: id)
        try responder.append(id, [try event("one")])
        // A CLI writer's write fails with EIO; it cuts its bytes off (the size is as before) and marks the
        // journal failed.
        let writer = try store(directory, faults: StoreFaults { operation, _ in operation == .write ? .fail(errno: EIO) : nil })
        #expect(journalError { try writer.append(id, [try event("two")]) } == .journalFailed(id, operation: "write", errno: EIO))
        #expect(JournalFailure.readMarker(forJournal: responder.path(of: id)) != nil)
        // The responder must not go on appending to the failed journal.
        #expect(journalError { try responder.append(id, [try event("three")]) } == .journalFailed(id, operation: "write", errno: EIO))
    }

    @Test("a reader in a process whose handle did not see the failure is still shown only what the failed writer's last good sync covered")
    func readerSeesAnotherProcesssFailure() throws {
        let directory = try TemporaryDirectory()
        let id = runID("v")
        // The responder has the journal open (a cached handle that knows of no failure).
        let responder = try store(directory, faults: StoreFaults())
        try responder.create(id: id)
        try responder.append(id, [try event("one")])
        // A CLI writer appends, and its fdatasync fails: the line may never reach the disk. Linux reports the
        // error once; a descriptor opened afterwards syncs "fine".
        let writer = try store(directory, faults: StoreFaults { operation, _ in operation == .fdatasync ? .fail(errno: EIO) : nil })
        #expect(journalError { try writer.append(id, [try event("two")]) } == .journalFailed(id, operation: "fdatasync", errno: EIO))
        let durable = try #require(JournalFailure.readMarker(forJournal: responder.path(of: id))).durableSize
        #expect(durable < fileSize(responder.path(of: id)))
        // A stream starting on the responder must not show seq 3: after a reboot it may be gone and reused.
        let journal = try responder.openReader(id)
        let visible = try responder.visibleSize(of: journal, id: id)
        #expect(visible.failed)
        #expect(visible.size == durable)
    }

    @Test("with fsync=always a handle syncs what the file holds when it opens: nothing another writer left unsynced counts as durable")
    func openTimeSync() throws {
        let directory = try TemporaryDirectory()
        let id = runID("o")
        let writer = try store(directory, fsync: .never, faults: StoreFaults())
        try writer.create(id: id)
        try writer.append(id, [try event("unsynced")])  // a writer that dies before any sync

        // A responder opens the journal; its sync of what is there fails: the journal fails, nothing is durable.
        let responder = try store(directory, faults: StoreFaults { operation, path in
            operation == .fdatasync && path.hasSuffix("o.jsonl") ? .fail(errno: EIO) : nil
        })
        #expect(journalError { try responder.append(id, [try event("next")]) }?.code == "journal_failed")
        #expect(try responder.failure(of: id)?.durableSize == 0)
        let visible = try responder.visibleSize(of: try responder.openReader(id), id: id)
        #expect(visible.failed && visible.size == 0)

        // Where that sync works, the handle counts everything it found as durable.
        let healthy = try store(directory, faults: StoreFaults())
        let other = runID("p")
        try writer.create(id: other)
        try writer.append(other, [try event("unsynced")])
        try healthy.append(other, [try event("next")])
        #expect(try healthy.failure(of: other) == nil)
    }
}
