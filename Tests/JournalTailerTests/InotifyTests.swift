import Foundation
import Testing
@testable import JournalTailer
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("The process's inotify instance and its fallbacks")
struct InotifyTests {
    @Test("watches are reference-counted and removed with the last subscriber")
    func watchesRefcounted() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "")
        let inode = try Sys.stat(path).inode
        let tailer = JournalTailer(logger: testLogger)

        let first = try tailer.subscribe(path: path, from: 0) {}
        let second = try tailer.subscribe(path: path, from: 0) {}
        #expect(tailer.statistics.inotifyWatches == 1)
        #expect(watchedInodes().filter { $0 == inode }.count == 1)

        first.cancel()
        #expect(tailer.statistics.inotifyWatches == 1)
        #expect(watchedInodes().contains(inode))

        second.cancel()
        #expect(tailer.statistics.inotifyWatches == 0)
        #expect(tailer.statistics.followedJournals == 0)
        #expect(!watchedInodes().contains(inode))
    }

    @Test("two tailers following one file share the kernel's watch, removed with the last of either")
    func tailersShareWatch() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "")
        let inode = try Sys.stat(path).inode
        let one = JournalTailer(logger: testLogger)
        let two = JournalTailer(logger: testLogger)
        let a = try one.subscribe(path: path, from: 0) {}
        let b = try two.subscribe(path: path, from: 0) {}
        #expect(watchedInodes().filter { $0 == inode }.count == 1)
        a.cancel()
        #expect(watchedInodes().contains(inode))
        b.cancel()
        #expect(!watchedInodes().contains(inode))
    }

    @Test("the process has exactly one inotify instance however many tailers and subscriptions")
    func oneInotifyInstance() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        var subscriptions: [JournalSubscription] = []
        var tailers: [JournalTailer] = []
        for t in 0..<4 {
            let tailer = JournalTailer(logger: testLogger)
            tailers.append(tailer)
            for j in 0..<25 {
                let path = dir.file("run-\(t)-\(j).jsonl")
                try Disk.write(path, "")
                subscriptions.append(try tailer.subscribe(path: path, from: 0) {})
            }
        }
        #expect(tailers.allSatisfy { $0.statistics.inotifyWatches == 25 })
        #expect(try inotifyDescriptorsInProcess() == 1)
        #expect(JournalTailer.inotifyInstancesCreated == 1)
        for subscription in subscriptions { subscription.cancel() }
        #expect(tailers.allSatisfy { $0.statistics.inotifyWatches == 0 })
    }

    @Test("a queue overflow re-checks every journal, finding changes whose events were lost")
    func overflowRechecks() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "")
        let tailer = JournalTailer(logger: testLogger)
        let follower = try Follower(tailer, path, from: 0)
        // From here on this tailer's journals get no events: only the overflow path can deliver.
        tailer.core.suppressFileEvents.store(true, ordering: .relaxed)
        try Disk.append(path, "lost-event\n")
        tailer.injectQueueOverflow()
        try await follower.waitFor("lost-event\n")
    }

    @Test("when inotify cannot be created every journal is polled, and that is logged once")
    func fallsBackWhenInotifyUnavailable() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let log = LogCapture()
        let tailer = JournalTailer(pollInterval: .milliseconds(20), logger: log.logger,
                                   faults: TailerFaults(inotifyInitErrno: EMFILE))
        let a = dir.file("a.jsonl")
        let b = dir.file("b.jsonl")
        try Disk.write(a, "")
        try Disk.write(b, "")
        let followA = try Follower(tailer, a, from: 0)
        let followB = try Follower(tailer, b, from: 0)
        #expect(tailer.statistics.inotifyWatches == 0)
        #expect(tailer.statistics.polledTargets == 2)
        #expect(tailer.statistics(forPath: a)?.followedBy == .polling)

        try Disk.append(a, "to-a\n")
        try Disk.append(b, "to-b\n")
        try await followA.waitFor("to-a\n")
        try await followB.waitFor("to-b\n")
        #expect(log.count(containing: "inotify unavailable") == 1)
    }

    @Test("at the watch limit only the affected journals are polled, and that is logged once")
    func watchLimitPollsAffectedOnly() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let log = LogCapture()
        let tailer = JournalTailer(pollInterval: .milliseconds(20), logger: log.logger,
                                   faults: TailerFaults(addWatchErrno: { $0.hasSuffix("limited.jsonl") ? ENOSPC : nil }))
        let watched = dir.file("watched.jsonl")
        let limited = [dir.file("1-limited.jsonl"), dir.file("2-limited.jsonl")]
        for path in [watched] + limited { try Disk.write(path, "") }
        let followers = try ([watched] + limited).map { try Follower(tailer, $0, from: 0) }
        #expect(tailer.statistics(forPath: watched)?.followedBy == .inotify)
        #expect(tailer.statistics(forPath: limited[0])?.followedBy == .polling)
        #expect(tailer.statistics(forPath: limited[1])?.followedBy == .polling)
        #expect(tailer.statistics.inotifyWatches == 1)
        #expect(tailer.statistics.polledTargets == 2)

        for path in [watched] + limited { try Disk.append(path, "x\n") }
        for follower in followers { try await follower.waitFor("x\n") }
        #expect(log.count(containing: "watch limit") == 1)
    }

    @Test("events from one read of the queue are parsed with their names")
    func parsesEvents() {
        func record(wd: Int32, mask: UInt32, name: String?) -> [UInt8] {
            var bytes: [UInt8] = []
            withUnsafeBytes(of: wd.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: mask.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: UInt32(0)) { bytes += $0 }
            let padded: [UInt8] = name.map { Array($0.utf8) + [UInt8](repeating: 0, count: 16 - $0.utf8.count) } ?? []
            withUnsafeBytes(of: UInt32(padded.count).littleEndian) { bytes += $0 }
            return bytes + padded
        }
        let buffer = record(wd: 3, mask: InotifyMask.modify, name: nil)
            + record(wd: 7, mask: InotifyMask.movedTo, name: "run.jsonl")
            + record(wd: -1, mask: InotifyMask.queueOverflow, name: nil)
        #expect(InotifyHub.parse(buffer[...]) == [
            InotifyEvent(watch: 3, mask: InotifyMask.modify, name: nil),
            InotifyEvent(watch: 7, mask: InotifyMask.movedTo, name: "run.jsonl"),
            InotifyEvent(watch: -1, mask: InotifyMask.queueOverflow, name: nil),
        ])
    }
}
