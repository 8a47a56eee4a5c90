import Foundation
import Logging
import Testing

@testable import RunJournal

/// A journal cut at any byte, as a crash or a full disk can leave it, must read back as a clean prefix in
/// whole batches: a batch cut anywhere, even between two of its lines, is absent for every reader, and the
/// repair (or the next append) restores a journal that is the original up to the last whole batch, so seqs
/// continue right after it. Every byte offset of the journal's last few KiB is tried.
@Suite("Truncation at every byte")
struct TruncationTests {
    /// The original journal: single events and batches, with where each append ended.
    struct Original {
        let bytes: [UInt8]
        /// One entry per append (create included): its last seq and the file size after it.
        let commits: [(lastSeq: Int64, end: Int)]

        /// The last whole append at or before `cut`.
        func lastCommit(atOrBefore cut: Int) -> (lastSeq: Int64, end: Int) {
            commits.last { $0.end <= cut }!
        }
    }

    static let id = runID("cut")

    /// Where the cut copies go: thousands of rewrites and repairs (each repair syncs) cost seconds on tmpfs
    /// and minutes on a disk, and the test is about bytes, not the disk. The system temp dir where there is
    /// no /dev/shm.
    static func scratchDirectory() -> TemporaryDirectory {
        var isDirectory: ObjCBool = false
        let shm = FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory) && isDirectory.boolValue
        return TemporaryDirectory("cut-copy", parent: shm ? "/dev/shm" : nil)
    }

    /// A store on the copies that does not log the torn-tail truncation it does at almost every cut.
    static func quietStore(_ directory: TemporaryDirectory, clock: ManualClock = ManualClock()) throws -> JournalStore {
        var logger = Logger(label: "truncation-tests")
        logger.logLevel = .critical
        return try JournalStore(directory: directory.path, fsyncPolicy: .never, clock: clock, logger: logger)
    }

    /// create, 4 singles, batches of 3, 5, 12, 30 and 20 events: the last ~4.5 KiB are the 30 and 20 event
    /// batches and a single event between them. Lines vary in length so cuts fall everywhere in a line.
    static func makeOriginal(in directory: TemporaryDirectory) throws -> Original {
        let store = try makeStore(directory)
        var commits: [(Int64, Int)] = []
        let created = try store.create(id: id)
        commits.append((created.lastSeq, Int(created.byteCount)))
        var batchNumber = 0
        for size in [1, 3, 1, 5, 1, 12, 30, 1, 20] {
            batchNumber += 1
            let events = try (0..<size).map { index in
                try event("step", #"{"b":\#(batchNumber),"i":\#(index),"n":\#(size),"pad":"\#(String(repeating: "x", count: (index * 13) % 40))"}"#)
            }
            let seqs = try store.append(id, events)
            commits.append((seqs.upperBound, Int(fileSize(store.path(of: id)))))
        }
        return Original(bytes: readBytes(store.path(of: id)), commits: commits)
    }

    /// The cuts tried: every offset from the start of the second-to-last batch or 4 KiB before the end,
    /// whichever is earlier, to the end.
    static func cuts(_ original: Original) -> ClosedRange<Int> {
        let secondToLastBatchStart = original.commits[original.commits.count - 4].end
        return min(secondToLastBatchStart, original.bytes.count - 4096)...original.bytes.count
    }

    /// Offsets where a check failed, grouped into ranges for the message.
    struct Failures: CustomStringConvertible {
        var offsets: [Int] = []
        var firstDetail: String?

        mutating func record(_ offset: Int, _ detail: @autoclosure () -> String) {
            if firstDetail == nil { firstDetail = "at \(offset): \(detail())" }
            offsets.append(offset)
        }

        var isEmpty: Bool { offsets.isEmpty }

        var description: String {
            var ranges: [String] = []
            var index = 0
            while index < offsets.count {
                var end = index
                while end + 1 < offsets.count, offsets[end + 1] == offsets[end] + 1 { end += 1 }
                ranges.append(index == end ? "\(offsets[index])" : "\(offsets[index])…\(offsets[end])")
                index = end + 1
            }
            return "\(offsets.count) cuts (\(ranges.prefix(12).joined(separator: ", "))\(ranges.count > 12 ? ", …" : "")); first: \(firstDetail ?? "")"
        }
    }

    @Test("every cut reads back as whole batches: the reader and a fresh store's summary stop at the last whole batch")
    func readersSeeWholeBatches() throws {
        let directory = TemporaryDirectory("cut")
        let original = try Self.makeOriginal(in: directory)
        let copy = Self.scratchDirectory()
        let path = copy.file("cut.jsonl")
        var reader = Failures(), summary = Failures(), bisection = Failures()
        let cuts = Self.cuts(original)
        for cut in cuts {
            writeBytes(path, Array(original.bytes[..<cut]))
            let expected = original.lastCommit(atOrBefore: cut)
            let journal = try OpenJournal(path: path)
            let (seqs, end) = try readSeqs(journal)
            if seqs != Array(1...expected.lastSeq) || end != Int64(expected.end) {
                reader.record(cut, "seqs 1…\(seqs.last ?? 0) ending at byte \(end), expected 1…\(expected.lastSeq) ending at \(expected.end)")
            }
            let after = try journal.offset(afterSeq: expected.lastSeq)
            if after != Int64(expected.end) { bisection.record(cut, "offset(afterSeq: \(expected.lastSeq)) is \(after), expected \(expected.end)") }
            let shown = try Self.quietStore(copy).summary(of: Self.id)
            if shown.lastSeq != expected.lastSeq || shown.byteCount != Int64(expected.end) {
                summary.record(cut, "summary last_seq \(shown.lastSeq) over \(shown.byteCount) bytes, expected \(expected.lastSeq) over \(expected.end)")
            }
        }
        print("TruncationTests: \(cuts.count) cuts of a \(original.bytes.count)-byte journal")
        #expect(reader.isEmpty, "the reader yields part of a cut batch (or too little) at \(reader)")
        #expect(bisection.isEmpty, "resuming after the last whole batch does not start at its end at \(bisection)")
        #expect(summary.isEmpty, "a fresh store's summary counts part of a cut batch (or too little) at \(summary)")
    }

    @Test("verify --repair leaves the original up to the last whole batch, and verify is then clean")
    func repairCutsToWholeBatches() throws {
        let directory = TemporaryDirectory("cut")
        let original = try Self.makeOriginal(in: directory)
        let copy = Self.scratchDirectory()
        let path = copy.file("cut.jsonl")
        var repaired = Failures(), unclean = Failures()
        for cut in Self.cuts(original) {
            writeBytes(path, Array(original.bytes[..<cut]))
            let expected = original.lastCommit(atOrBefore: cut)
            _ = try JournalVerifier.repair(path: path)
            let bytes = readBytes(path)
            if bytes != Array(original.bytes[..<expected.end]) {
                repaired.record(cut, "\(bytes.count) bytes left, expected the first \(expected.end)")
            }
            let report = try JournalVerifier.verify(path: path)
            if !report.isClean || report.lineCount != Int(expected.lastSeq) {
                unclean.record(cut, "verify after repair: \(report.lineCount) lines, problems \(report.problems), torn \(report.tornTailBytes)")
            }
        }
        #expect(repaired.isEmpty, "repair does not cut back to the last whole batch at \(repaired)")
        #expect(unclean.isEmpty, "verify after repair at \(unclean)")
    }

    @Test("the next append cuts back to the last whole batch and continues with the next seq")
    func nextAppendContinuesAfterWholeBatches() throws {
        let directory = TemporaryDirectory("cut")
        let original = try Self.makeOriginal(in: directory)
        let copy = Self.scratchDirectory()
        let path = copy.file("cut.jsonl")
        let clock = ManualClock(2_000_000_000_000)
        var seqs = Failures(), prefix = Failures(), unclean = Failures()
        for cut in Self.cuts(original) {
            writeBytes(path, Array(original.bytes[..<cut]))
            let expected = original.lastCommit(atOrBefore: cut)
            let store = try Self.quietStore(copy, clock: clock)
            let appended = try store.append(Self.id, [try event("after", #"{"cut":\#(cut)}"#)])
            if appended != (expected.lastSeq + 1)...(expected.lastSeq + 1) {
                seqs.record(cut, "the append got seqs \(appended), expected \(expected.lastSeq + 1)")
            }
            let bytes = readBytes(path)
            let appendedLine = Array((line(expected.lastSeq + 1, clock.nowMillis(), "after", #"{"cut":\#(cut)}"#)).utf8)
            if bytes != Array(original.bytes[..<expected.end]) + appendedLine {
                prefix.record(cut, "the file is not the first \(expected.end) bytes and the new line: \(String(decoding: bytes.suffix(160), as: UTF8.self))")
            }
            let report = try JournalVerifier.verify(path: path)
            if !report.isClean { unclean.record(cut, "verify after the append: problems \(report.problems), torn \(report.tornTailBytes)") }
        }
        #expect(seqs.isEmpty, "the next append does not continue after the last whole batch at \(seqs)")
        #expect(prefix.isEmpty, "the next append leaves more (or less) than the whole batches at \(prefix)")
        #expect(unclean.isEmpty, "verify after the next append at \(unclean)")
    }
}
