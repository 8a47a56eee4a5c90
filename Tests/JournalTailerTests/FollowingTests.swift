import Foundation
import Testing
@testable import JournalTailer

#if canImport(Glibc)
import Glibc
#endif

/// Both ways of noticing changes must deliver the same bytes; every behaviour test runs in both.
let bothModes: [TailerMode] = [.inotify, .poll(interval: .milliseconds(20))]

@Suite("Following a journal")
struct FollowingTests {
    @Test("growth wakes the subscriber and delivers exactly the appended bytes", arguments: bothModes)
    func growthDeliversExactBytes(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "{\"seq\":1}\n")
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let follower = try Follower(tailer, path, from: 10)
        #expect(try follower.subscription.read() == .caughtUp)

        try Disk.append(path, "{\"seq\":2}\n")
        try await eventually("a wake") { follower.wakeCount >= 1 }
        try await follower.waitFor("{\"seq\":2}\n")
        try Disk.append(path, "{\"seq\":3}\n{\"seq\":4}\n")
        try await follower.waitFor("{\"seq\":2}\n{\"seq\":3}\n{\"seq\":4}\n")
        #expect(follower.subscription.offset == 40)
        #expect(try follower.subscription.read() == .caughtUp)
    }

    @Test("a partial last line is held back until its newline arrives", arguments: bothModes)
    func partialLineHeldBack(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "")
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let follower = try Follower(tailer, path, from: 0)

        try Disk.append(path, "{\"half\":")
        // The reader has looked at the new bytes (one pread) and published nothing.
        try await eventually("the reader to read the partial line") { tailer.statistics.sharedReads >= 1 }
        #expect(try follower.subscription.read() == .caughtUp)
        #expect(tailer.statistics(forPath: path)?.publishedEnd == 0)

        try Disk.append(path, "true}\n{\"next\":")
        try await follower.waitFor("{\"half\":true}\n")
        #expect(follower.subscription.offset == 14)
    }

    @Test("a torn tail truncated and re-appended is delivered once, with the new bytes", arguments: bothModes)
    func tornTailRewrittenDeliveredOnce(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "{\"a\":1}\n")
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let follower = try Follower(tailer, path, from: 8)

        // A writer crashed mid-line...
        try Disk.append(path, "{\"torn\":tr")
        try await eventually("the reader to see the torn tail") { tailer.statistics.sharedReads >= 1 }
        #expect(try follower.subscription.read() == .caughtUp)
        // ...and the store's next append truncates it and writes whole lines (same length, other bytes).
        try Disk.truncate(path, to: 8)
        try Disk.append(path, "{\"b\":22}\n")
        try await follower.waitFor("{\"b\":22}\n")
        try Disk.append(path, "{\"c\":3}\n")
        try await follower.waitFor("{\"b\":22}\n{\"c\":3}\n")
        #expect(follower.subscription.offset == 25)
    }

    @Test("a truncation and re-append between two looks publishes nothing twice", arguments: bothModes)
    func coalescedTruncateAndAppend(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "1\n")
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let follower = try Follower(tailer, path, from: 2)
        try Disk.append(path, "torn")
        try Disk.truncate(path, to: 2)
        try Disk.append(path, "2\n")
        try Disk.append(path, "3\n")
        try await follower.waitFor("2\n3\n")
        #expect(follower.subscription.offset == 6)
    }

    @Test("a file shrinking below a subscriber's offset ends it as truncated", arguments: bothModes)
    func shrinkBelowOffsetIsTruncated(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "a\nb\n")
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let behind = try Follower(tailer, path, from: 2)
        let atEnd = try Follower(tailer, path, from: 4)
        try Disk.truncate(path, to: 2)
        #expect(try await atEnd.waitForGone() == .truncated)
        // The one at the new end is unaffected and goes on from there.
        try Disk.append(path, "c\n")
        try await behind.waitFor("c\n")
        #expect(behind.gone == nil)
    }

    @Test("a subscriber whose offset is behind what is already published is woken at once")
    func lateSubscriberWokenForPublishedBytes() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "a\n")
        let tailer = JournalTailer(logger: testLogger)
        let first = try Follower(tailer, path, from: 2)
        try Disk.append(path, "b\nc\n")
        try await first.waitFor("b\nc\n")
        // Replayed only the first line, subscribes from there: the rest is already published.
        let late = try Follower(tailer, path, from: 2)
        #expect(late.wakeCount == 1)
        try late.drain()
        #expect(late.text == "b\nc\n")
        #expect(tailer.statistics.followedJournals == 1)
    }

    @Test("reads return whole lines up to maxBytes, and one longer line whole")
    func readsRespectMaxBytes() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "")
        let tailer = JournalTailer(logger: testLogger)
        let follower = try Follower(tailer, path, from: 0)
        let long = String(repeating: "x", count: 50) + "\n"
        try Disk.append(path, "aa\nbb\n" + long + "cc\n")
        try await eventually("publication") { tailer.statistics(forPath: path)?.publishedEnd == 60 }
        #expect(try follower.subscription.read(maxBytes: 4) == .lines(bytes: Array("aa\n".utf8), startOffset: 0))
        #expect(try follower.subscription.read(maxBytes: 7) == .lines(bytes: Array("bb\n".utf8), startOffset: 3))
        #expect(try follower.subscription.read(maxBytes: 4) == .lines(bytes: Array(long.utf8), startOffset: 6))
        #expect(try follower.subscription.read(maxBytes: 4) == .lines(bytes: Array("cc\n".utf8), startOffset: 57))
        #expect(try follower.subscription.read(maxBytes: 4) == .caughtUp)
    }

    @Test("a burst larger than the window is delivered whole, the overflow from the file")
    func burstLargerThanWindow() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "")
        let tailer = JournalTailer(windowBytes: 100, logger: testLogger)
        let follower = try Follower(tailer, path, from: 0)
        let lines = (0..<40).map { "{\"seq\":\($0)}\n" }.joined()
        try Disk.append(path, lines + "{\"partial\"")
        try await follower.waitFor(lines)
        #expect(tailer.statistics.catchUpReads >= 1)
        #expect(tailer.statistics(forPath: path)?.publishedEnd == Int64(lines.utf8.count))
    }

    @Test("syncBeforePublish fdatasyncs before publishing; without it there is no sync")
    func syncBeforePublish() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let synced = dir.file("synced.jsonl")
        let plain = dir.file("plain.jsonl")
        try Disk.write(synced, "")
        try Disk.write(plain, "")
        let tailer = JournalTailer(logger: testLogger)
        let plainFollower = try Follower(tailer, plain, from: 0)
        try Disk.append(plain, "p\n")
        try await plainFollower.waitFor("p\n")
        #expect(tailer.statistics.syncs == 0)

        let syncedFollower = try Follower(tailer, synced, from: 0, sync: true)
        try Disk.append(synced, "s\n")
        try await syncedFollower.waitFor("s\n")
        #expect(tailer.statistics.syncs >= 1)
    }

    @Test("subscribing to a missing path, a directory or a negative offset fails with a clear error")
    func subscribeErrors() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let tailer = JournalTailer(logger: testLogger)
        #expect(throws: TailerError.notFound(path: dir.file("nope.jsonl"))) {
            _ = try tailer.subscribe(path: dir.file("nope.jsonl"), from: 0) {}
        }
        #expect(throws: TailerError.notARegularFile(path: dir.path)) {
            _ = try tailer.subscribe(path: dir.path, from: 0) {}
        }
        try Disk.write(dir.file("a.jsonl"), "")
        #expect(throws: TailerError.invalidOffset(-1)) {
            _ = try tailer.subscribe(path: dir.file("a.jsonl"), from: -1) {}
        }
    }

    @Test("reading after cancel throws cancelled, and the offset is kept")
    func readAfterCancel() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "a\n")
        let tailer = JournalTailer(logger: testLogger)
        let subscription = try tailer.subscribe(path: path, from: 2) {}
        subscription.cancel()
        subscription.cancel()
        #expect(throws: TailerError.cancelled) { _ = try subscription.read() }
        #expect(subscription.offset == 2)
        #expect(tailer.statistics.subscriptions == 0)
        #expect(tailer.statistics.followedJournals == 0)
    }
}
