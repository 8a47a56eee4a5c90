import Foundation
import RunJournal
import Testing

/// The CLI's view of a journal cut short (a crash, a full disk): `runjournal replay` prints only whole
/// batches, `verify --repair` cuts back to the last whole batch, and `verify` is then clean. A sample of
/// cuts in the last batches — at a line end inside a batch (the hard case: every line there looks
/// complete), inside a line, one byte short of a batch — next to the store-level test that tries every
/// byte (RunJournalTests' TruncationTests).
@Suite("Truncated journals through the CLI")
struct TruncatedJournalCLITests {
    @Test("replay, verify --repair and verify see a cut journal as its whole batches")
    func cutJournalThroughCLI() throws {
        let source = try TemporaryDirectory(prefix: "cutsrc")
        let store = try JournalStore(directory: source.path, fsyncPolicy: .never)
        let id = try RunID("cut")
        let created = try store.create(id: id)
        var commits: [(lastSeq: Int64, end: Int)] = [(created.lastSeq, Int(created.byteCount))]
        var lineEnds: [Int] = []
        for (number, size) in [3, 1, 12, 1, 9].enumerated() {
            let events = try (0..<size).map { index in
                try NewEvent(type: EventType("step"), json: Array(#"{"b":\#(number),"i":\#(index),"n":\#(size)}"#.utf8))
            }
            let seqs = try store.append(id, events)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: store.path(of: id)))
            commits.append((seqs.upperBound, bytes.count))
            lineEnds = bytes.enumerated().filter { $0.element == 0x0A }.map { $0.offset + 1 }
        }
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: store.path(of: id))))

        // The last two batches (12 and 9 events) and the single event between them.
        let region = commits[commits.count - 4].end
        var cuts = Set<Int>()
        for end in lineEnds where end > region {
            cuts.formUnion([end, end - 1, end - 17])
        }
        cuts.insert(region + 1)
        let sorted = cuts.filter { $0 > region && $0 <= original.count }.sorted()

        let scratch = try TemporaryDirectory(prefix: "cutcli")
        let journal = try scratch.makeDirectory("journal")
        let path = journal + "/cut.jsonl"
        var failures: [String] = []
        for cut in sorted {
            _ = FileManager.default.createFile(atPath: path, contents: Data(original[..<cut]))
            let expected = commits.last { $0.end <= cut }!

            let replay = try OpsCLI.run(["replay", "--format", "jsonl", path])
            let seqs = replay.stdout.split(separator: "\n").compactMap { line in
                line.hasPrefix(#"{"seq":"#) ? Int64(line.dropFirst(7).prefix { $0.isNumber }) : nil
            }
            if replay.status != 0 || seqs != Array(1...expected.lastSeq) {
                failures.append("cut \(cut): replay printed seqs 1…\(seqs.last ?? 0) (exit \(replay.status.map(String.init) ?? "none")), expected 1…\(expected.lastSeq)")
            }
            let repair = try OpsCLI.run(["verify", "--repair", "--journal", journal, "cut"])
            let left = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
            if repair.status != 0 || left != Array(original[..<expected.end]) {
                failures.append("cut \(cut): verify --repair left \(left.count) bytes (exit \(repair.status.map(String.init) ?? "none")), expected the first \(expected.end)")
            }
            let verify = try OpsCLI.run(["verify", "--journal", journal, "cut"])
            if verify.status != 0 || verify.stdout != "cut: ok (\(expected.lastSeq) events)\n" {
                failures.append("cut \(cut): verify after the repair: \(verify)")
            }
        }
        print("TruncatedJournalCLITests: \(sorted.count) cuts, \(failures.count) failures")
        let allWhole = failures.isEmpty
        #expect(allWhole, "\(failures.count) failures over \(sorted.count) cuts: \(failures.prefix(8).joined(separator: "; "))")
    }
}
