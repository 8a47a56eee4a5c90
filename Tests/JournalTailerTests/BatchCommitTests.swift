import Foundation
import RunJournal
import Testing
@testable import JournalTailer

/// Readers never see part of a batch: the tailer publishes only up to the end of a line without `"more":true`.
@Suite("Publishing whole batches only")
struct BatchCommitTests {
    private func line(_ seq: Int64, more: Bool, padding: Int = 0) -> String {
        var out = [UInt8]()
        EventLine.append(
            seq: seq, millis: 1_764_000_000_000, type: try! EventType("step"),
            compactData: Array(#"{"pad":"\#(String(repeating: "x", count: padding))"}"#.utf8), more: more, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test("the lines of a batch are held back until its last line is written, then published together", arguments: bothModes)
    func batchHeldUntilCommitted(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        let first = line(1, more: false)
        try Disk.write(path, first)
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let follower = try Follower(tailer, path, from: Int64(first.utf8.count))

        // Two complete lines of a three-line batch: complete lines, but not a complete batch.
        let batch = [line(2, more: true), line(3, more: true), line(4, more: false)]
        try Disk.append(path, batch[0] + batch[1])
        try await eventually("the reader to read the uncommitted lines") { tailer.statistics.sharedReads >= 1 }
        #expect(try follower.subscription.read() == .caughtUp)
        #expect(tailer.statistics(forPath: path)?.publishedEnd == Int64(first.utf8.count))

        try Disk.append(path, batch[2])
        try await follower.waitFor(batch.joined())
    }

    @Test("a batch larger than the window is published from a line start, never in part", arguments: bothModes)
    func largeBatch(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        let first = line(1, more: false)
        try Disk.write(path, first)
        let tailer = JournalTailer(mode: mode, windowBytes: 4096, logger: testLogger)
        let follower = try Follower(tailer, path, from: Int64(first.utf8.count))
        let lines = (2...40).map { line(Int64($0), more: $0 < 40, padding: 300) }
        // All but the last line: about 11 KiB of uncommitted lines, nearly three windows.
        try Disk.append(path, lines.dropLast().joined())
        try await eventually("the reader to look") { tailer.statistics.sharedReads >= 1 }
        #expect(try follower.subscription.read() == .caughtUp)
        try Disk.append(path, lines.last!)
        try await follower.waitFor(lines.joined())
    }
}
