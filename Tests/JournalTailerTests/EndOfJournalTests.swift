import Foundation
import Testing
@testable import JournalTailer

#if canImport(Glibc)
import Glibc
#endif

@Suite("Noticing that a journal ended")
struct EndOfJournalTests {
    @Test("a new file renamed over the journal is reported as replaced, after the old file's last lines",
          arguments: bothModes)
    func replacementReported(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "old-1\n")
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let follower = try Follower(tailer, path, from: 6)

        try Disk.append(path, "old-2\n")
        try Disk.write(dir.file(".run.tmp"), "new-1\n")
        try Disk.rename(dir.file(".run.tmp"), path)
        #expect(try await follower.waitForGone() == .replaced)
        #expect(follower.text == "old-2\n")
        #expect(try follower.subscription.read() == .gone(.replaced))

        // A new subscription follows whatever the path names now.
        let fresh = try Follower(tailer, path, from: 6)
        try Disk.append(path, "new-2\n")
        try await fresh.waitFor("new-2\n")
        #expect(tailer.statistics.followedJournals == 1)
    }

    @Test("deletion is reported while another descriptor still holds the file open", arguments: bothModes)
    func deletionReportedWhileHeldOpen(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "a\n")
        let holder = open(path, O_RDONLY | O_CLOEXEC)
        #expect(holder >= 0)
        defer { close(holder) }
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let follower = try Follower(tailer, path, from: 2)
        try Disk.unlink(path)
        #expect(try await follower.waitForGone() == .deleted)
        // The watch goes with the end (the tailer drops it just after telling the subscribers, so wait for
        // it); the descriptor goes with the subscription.
        try await eventually("the watch to go") {
            let statistics = tailer.statistics
            return statistics.inotifyWatches == 0 && statistics.polledTargets == 0 && statistics.followedJournals == 0
        }
    }

    @Test("renaming the journal away is reported as moved away", arguments: bothModes)
    func renameAwayReported(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "a\n")
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let follower = try Follower(tailer, path, from: 0)
        try await follower.waitFor("a\n")
        try Disk.rename(path, dir.file("archived.jsonl"))
        #expect(try await follower.waitForGone() == .movedAway)
    }

    @Test("a subscriber behind when the journal ends still receives every published line first")
    func drainsBeforeGone() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "")
        let tailer = JournalTailer(windowBytes: 8, logger: testLogger)
        let fast = try Follower(tailer, path, from: 0)
        let slow = try tailer.subscribe(path: path, from: 0) {}
        try Disk.append(path, "line-1\nline-2\nline-3\n")
        try await fast.waitFor("line-1\nline-2\nline-3\n")
        try Disk.unlink(path)
        _ = try await fast.waitForGone()

        var text = ""
        while case .lines(let bytes, _) = try slow.read(maxBytes: 7) {
            text += String(decoding: bytes, as: UTF8.self)
        }
        #expect(text == "line-1\nline-2\nline-3\n")
        #expect(try slow.read() == .gone(.deleted))
    }
}
