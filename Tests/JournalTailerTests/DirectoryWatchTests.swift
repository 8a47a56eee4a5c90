import Foundation
import RunJournal
import Testing
@testable import JournalTailer
import SystemSupport

@Suite("Watching a directory for new journals")
struct DirectoryWatchTests {
    final class Changes: Sendable {
        let seen = LockedValue<[DirectoryChange]>([])
        func contains(_ change: DirectoryChange) -> Bool { seen.withLock { $0.contains(change) } }
    }

    @Test("a journal renamed into the directory from a temporary file is reported", arguments: bothModes)
    func newJournalAppears(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try Disk.write(dir.file("existing.jsonl"), "")
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let changes = Changes()
        let watch = try tailer.watchDirectory(path: dir.path) { change in changes.seen.withLock { $0.append(change) } }
        defer { watch.cancel() }

        try Disk.write(dir.file(".new.tmp"), "{\"seq\":1}\n")
        try Disk.rename(dir.file(".new.tmp"), dir.file("new.jsonl"))
        try await eventually("new.jsonl to appear") { changes.contains(.appeared("new.jsonl")) }
        #expect(!changes.contains(.appeared("existing.jsonl")))

        try Disk.unlink(dir.file("existing.jsonl"))
        try await eventually("existing.jsonl to be removed") { changes.contains(.removed("existing.jsonl")) }
    }

    @Test("removing the directory ends the watch", arguments: bothModes)
    func directoryGone(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let changes = Changes()
        let watch = try tailer.watchDirectory(path: dir.path) { change in changes.seen.withLock { $0.append(change) } }
        #expect(tailer.statistics.directoryWatches == 1)
        dir.remove()
        try await eventually("the directory to be reported gone") { changes.contains(.directoryGone) }
        try await eventually("the watch to end") { tailer.statistics.directoryWatches == 0 }
        watch.cancel()
    }

    @Test("cancel removes the directory's watch")
    func cancelRemovesWatch() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let tailer = JournalTailer(logger: testLogger)
        let watch = try tailer.watchDirectory(path: dir.path) { _ in }
        #expect(tailer.statistics.inotifyWatches == 1)
        watch.cancel()
        #expect(tailer.statistics.inotifyWatches == 0)
        #expect(tailer.statistics.directoryWatches == 0)
    }

    @Test("watching a missing path or a file fails with a clear error")
    func watchErrors() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let tailer = JournalTailer(logger: testLogger)
        #expect(throws: TailerError.notFound(path: dir.file("missing"))) {
            _ = try tailer.watchDirectory(path: dir.file("missing")) { _ in }
        }
        try Disk.write(dir.file("file.jsonl"), "")
        #expect(throws: TailerError.notADirectory(path: dir.file("file.jsonl"))) {
            _ = try tailer.watchDirectory(path: dir.file("file.jsonl")) { _ in }
        }
    }
}
