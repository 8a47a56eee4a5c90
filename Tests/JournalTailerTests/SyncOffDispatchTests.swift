import Foundation
import Testing
@testable import JournalTailer
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// Holds the durable-before-visible syncs of one journal until the test opens it: the stand-in for a disk
/// that takes its time, without a slow disk.
final class SyncGate: @unchecked Sendable {
    private let lock = ConditionLock()
    private var opened = false
    private var entered = 0

    /// Called on the syncing thread: counts the sync, then blocks until `open()`.
    func pass() {
        lock.withLock {
            entered += 1
            lock.broadcast()
            while !opened { lock.wait() }
        }
    }

    func open() {
        lock.withLock {
            opened = true
            lock.broadcast()
        }
    }

    var syncsEntered: Int { lock.withLock { entered } }
}

@Suite("Sync off the tailer's thread")
struct SyncOffDispatchTests {
    @Test("a journal whose sync is held up delays no other journal; its lines arrive in order once it completes")
    func heldSyncDelaysNoOtherJournal() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let held = dir.file("held.jsonl"), synced = dir.file("synced.jsonl"), plain = dir.file("plain.jsonl")
        for path in [held, synced, plain] { try Disk.write(path, "") }
        let gate = SyncGate()
        // Opened on every way out, so a failing expectation never leaves a thread blocked.
        defer { gate.open() }
        let tailer = JournalTailer(logger: testLogger, faults: TailerFaults(beforeSync: { path in
            if path == held { gate.pass() }
            return nil
        }))
        let heldFollower = try Follower(tailer, held, from: 0, sync: true)
        let syncedFollower = try Follower(tailer, synced, from: 0, sync: true)
        let plainSubscriberOfSynced = try Follower(tailer, synced, from: 0)
        let plainFollower = try Follower(tailer, plain, from: 0)

        try Disk.append(held, "h1\n")
        try await eventually("the held journal's sync to start") { gate.syncsEntered >= 1 }
        // Lines written while the sync is held wait behind it.
        try Disk.append(held, "h2\n")

        // The other journals are delivered meanwhile, with and without durable-before-visible.
        try Disk.append(synced, "s1\n")
        try Disk.append(plain, "p1\n")
        try await syncedFollower.waitFor("s1\n")
        try await plainSubscriberOfSynced.waitFor("s1\n")
        try await plainFollower.waitFor("p1\n")
        try Disk.append(synced, "s2\n")
        try Disk.append(plain, "p2\n")
        try await syncedFollower.waitFor("s1\ns2\n")
        try await plainFollower.waitFor("p1\np2\n")

        // Nothing of the held journal is visible before its sync completed.
        #expect(try heldFollower.drain().isEmpty)
        #expect(tailer.statistics(forPath: held)?.publishedEnd == 0)

        gate.open()
        try await heldFollower.waitFor("h1\nh2\n")
        #expect(heldFollower.gone == nil)
    }

    @Test("lines waiting for their sync when the file is deleted are delivered before the subscriber is told it is gone")
    func deletionWaitsForHeldLines() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let held = dir.file("held.jsonl"), barrier = dir.file("barrier.jsonl")
        for path in [held, barrier] { try Disk.write(path, "") }
        let gate = SyncGate()
        defer { gate.open() }
        let tailer = JournalTailer(logger: testLogger, faults: TailerFaults(beforeSync: { path in
            if path == held { gate.pass() }
            return nil
        }))
        let heldFollower = try Follower(tailer, held, from: 0, sync: true)
        let barrierFollower = try Follower(tailer, barrier, from: 0)

        try Disk.append(held, "h1\n")
        try await eventually("the held journal's sync to start") { gate.syncsEntered >= 1 }
        try Disk.unlink(held)
        // The tailer's thread handles events in order: once the barrier's line is delivered, it has seen the
        // deletion too, while h1 still waits for its sync.
        try Disk.append(barrier, "b1\n")
        try await barrierFollower.waitFor("b1\n")
        #expect(try heldFollower.drain().isEmpty)
        #expect(heldFollower.gone == nil)

        gate.open()
        #expect(try await heldFollower.waitForGone() == .deleted)
        #expect(heldFollower.text == "h1\n")
    }

    @Test("a failed sync fails its journal, publishes none of its lines and is not retried; other journals go on")
    func failedSyncFailsOnlyItsJournal() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let failing = dir.file("failing.jsonl"), other = dir.file("other.jsonl")
        for path in [failing, other] { try Disk.write(path, "") }
        let attempts = LockedValue(0)
        let tailer = JournalTailer(logger: testLogger, faults: TailerFaults(beforeSync: { path in
            guard path == failing else { return nil }
            attempts.withLock { $0 += 1 }
            return EIO
        }))
        let failingFollower = try Follower(tailer, failing, from: 0, sync: true)
        let otherFollower = try Follower(tailer, other, from: 0, sync: true)

        try Disk.append(failing, "f1\n")
        var failure: TailerError?
        try await eventually("the journal to fail") {
            do {
                try failingFollower.drain()
                return false
            } catch let error as TailerError {
                failure = error
                return true
            }
        }
        #expect(failure == .io(operation: "fdatasync", path: failing, errno: EIO))
        #expect(failingFollower.text.isEmpty)

        try Disk.append(failing, "f2\n")
        try Disk.append(other, "o1\n")
        try await otherFollower.waitFor("o1\n")
        #expect(attempts.withLock { $0 } == 1)
        #expect(failingFollower.text.isEmpty)
    }
}

/// The in-process writer's sync report (`journalGrew` with a durable end) and the tailer's own sync rounds.
@Suite("Sync rounds and the writer's sync")
struct WriterSyncReportTests {
    private static func inode(_ path: String) throws -> UInt64 { try Sys.stat(path).inode }

    @Test("lines queued for a sync round that the writer's sync covers are published at its report, never synced again")
    func queuedLinesGoOutOnTheWritersReport() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let busy = (0..<4).map { dir.file("busy\($0).jsonl") }
        let queued = dir.file("queued.jsonl"), barrier = dir.file("barrier.jsonl")
        for path in busy + [queued, barrier] { try Disk.write(path, "") }
        let gate = SyncGate()
        defer { gate.open() }
        let queuedSyncs = LockedValue(0)
        let tailer = JournalTailer(logger: testLogger, faults: TailerFaults(beforeSync: { path in
            if busy.contains(path) { gate.pass() }
            if path == queued { queuedSyncs.withLock { $0 += 1 } }
            return nil
        }))
        let busyFollowers = try busy.map { try Follower(tailer, $0, from: 0, sync: true) }
        // Every sync worker (four per tailer) is held in a sync of its own journal.
        for path in busy { try Disk.append(path, "x\n") }
        try await eventually("all four sync workers to be busy") { gate.syncsEntered >= 4 }
        let queuedFollower = try Follower(tailer, queued, from: 0, sync: true)
        let barrierFollower = try Follower(tailer, barrier, from: 0)
        try Disk.append(queued, "q1\n")
        // The tailer's thread handles events in order: once the barrier's line is out, q1 has been read and
        // queued for a round that no worker is free to run.
        try Disk.append(barrier, "b1\n")
        try await barrierFollower.waitFor("b1\n")
        #expect(try queuedFollower.drain().isEmpty)

        // The writer reports that its own sync covered q1: out at once, no worker, no second sync.
        tailer.journalGrew(path: queued, inode: try Self.inode(queued), end: 3, durableEnd: 3)
        try await queuedFollower.waitFor("q1\n")
        #expect(gate.syncsEntered == 4)

        gate.open()
        for (follower, _) in zip(busyFollowers, busy) { try await follower.waitFor("x\n") }
        // The queued round ran and found nothing left to sync.
        try Disk.append(barrier, "b2\n")
        try await barrierFollower.waitFor("b1\nb2\n")
        #expect(queuedSyncs.withLock { $0 } == 0)
    }

    @Test("a writer's report never publishes lines ahead of earlier lines a sync round is syncing")
    func aReportWaitsBehindARoundInFlight() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let held = dir.file("held.jsonl"), barrier = dir.file("barrier.jsonl")
        for path in [held, barrier] { try Disk.write(path, "") }
        let gate = SyncGate()
        defer { gate.open() }
        let tailer = JournalTailer(logger: testLogger, faults: TailerFaults(beforeSync: { path in
            if path == held { gate.pass() }
            return nil
        }))
        let heldFollower = try Follower(tailer, held, from: 0, sync: true)
        let barrierFollower = try Follower(tailer, barrier, from: 0)
        try Disk.append(held, "h1\n")
        try await eventually("the round's sync to start") { gate.syncsEntered >= 1 }
        try Disk.append(held, "h2\n")
        try Disk.append(barrier, "b1\n")
        try await barrierFollower.waitFor("b1\n")

        // Both lines are durable by the writer's word, but h1 is in a round that has not published it yet.
        tailer.journalGrew(path: held, inode: try Self.inode(held), end: 6, durableEnd: 6)
        #expect(try heldFollower.drain().isEmpty)
        gate.open()
        try await heldFollower.waitFor("h1\nh2\n")
    }
}
