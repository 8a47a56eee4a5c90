import Foundation
import RunJournal
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Several real `runjournal` processes on one journal: only `flock` stands between them, so this is the
/// test that proves appends from different processes never interleave, tear or reuse a seq.
@Suite("Store: concurrent processes and torn tails")
struct StoreConcurrencyTests {
    @Test("4 processes appending 10,000 events each leave seqs 1...40,001 contiguous and a clean journal")
    func fourProcesses() throws {
        let dir = try StoreScratchDirectory()
        let created = try StoreCLI.run(["create", "--journal", dir.journal, "--id", "shared"])
        #expect(created.status == 0, "\(created)")

        let processes = 4
        let perProcess = 10_000
        // All children are started before any is waited for; each feeds its lines one append at a time.
        let children = try (0..<processes).map { process in
            var input = ""
            input.reserveCapacity(perProcess * 40)
            for index in 0..<perProcess { input += "{\"type\":\"p\(process)\",\"data\":{\"i\":\(index)}}\n" }
            return try StoreCLI.start(
                ["append", "--journal", dir.journal, "shared", "-", "--each", "--fsync", "never"], stdin: Array(input.utf8))
        }
        let results = children.map { $0.wait() }

        var printed: [Int64] = []
        for (process, result) in results.enumerated() {
            #expect(result.status == 0, "process \(process): \(result.stderr)")
            let seqs = result.stdout.split(separator: "\n").compactMap { Int64($0) }
            #expect(seqs.count == perProcess, "process \(process) printed \(seqs.count) seqs")
            #expect(seqs == seqs.sorted(), "process \(process) got seqs out of order")
            printed += seqs
        }
        let total = Int64(processes * perProcess)
        #expect(printed.sorted() == Array(2...(total + 1)), "the printed seqs are not 2...\(total + 1), each once")

        // Every line valid, seqs contiguous from 1, each process's events in the order it sent them.
        let journal = try OpenJournal(path: dir.path("shared"))
        var expectedSeq: Int64 = 1
        var nextIndex = [String: Int]()
        var switches = 0
        var previousType = ""
        var mismatch: String?
        let end = try journal.forEachLine(from: 0) { line in
            if line.seq != expectedSeq {
                mismatch = "seq \(line.seq), expected \(expectedSeq)"
                return false
            }
            expectedSeq += 1
            let type = line.typeString
            if line.seq > 1 {
                let data = String(decoding: line.data, as: UTF8.self)
                let want = nextIndex[type, default: 0]
                if data != "{\"i\":\(want)}" {
                    mismatch = "seq \(line.seq): \(type) data \(data), expected index \(want)"
                    return false
                }
                nextIndex[type] = want + 1
                if type != previousType { switches += 1 }
                previousType = type
            }
            return true
        }
        #expect(mismatch == nil, "\(mismatch ?? "")")
        #expect(expectedSeq == total + 2)
        #expect(end == (try journal.size()))
        #expect(nextIndex.count == processes && nextIndex.values.allSatisfy { $0 == perProcess })
        // Not asserted (scheduling decides), but worth seeing in the log: how often the writers alternated.
        print("StoreConcurrencyTests: writer switched \(switches) times over \(total) appends")

        let verify = try StoreCLI.run(["verify", "--journal", dir.journal, "shared"])
        #expect(verify.status == 0, "\(verify)")
        #expect(verify.stdout == "shared: ok (\(total + 1) events)\n")
        let show = try StoreCLI.run(["show", "--journal", dir.journal, "shared"])
        #expect(show.stdout.contains("\"last_seq\":\(total + 1)"), "\(show)")
    }

    @Test("a summary cached in this process catches up with appends made by another process")
    func summaryCatchesUpWithOtherProcess() throws {
        let dir = try StoreScratchDirectory()
        let store = try JournalStore(directory: dir.journal, fsyncPolicy: .never)
        let id = try RunID("x")
        try store.create(id: id, metadata: Array(#"{"k":1}"#.utf8))
        #expect(try store.summary(of: id).status == .queued)

        let appended = try StoreCLI.run(
            ["append", "--journal", dir.journal, "x", "-"],
            stdin: "{\"type\":\"run.started\"}\n{\"type\":\"step\"}\n{\"type\":\"run.failed\",\"data\":{\"reason\":\"boom\"}}\n")
        #expect(appended.stdout == "2-4\n", "\(appended)")
        let summary = try store.summary(of: id)
        #expect(summary.lastSeq == 4)
        #expect(summary.status == .failed)
        #expect(summary.terminalReason == "boom")
        #expect(String(decoding: summary.metadata, as: UTF8.self) == #"{"k":1}"#)
        #expect(summary == (try JournalStore(directory: dir.journal, fsyncPolicy: .never).summary(of: id)))
        // And this process's cached tail knows the run has ended.
        #expect(throws: JournalError.runTerminal(id, .failed)) { try store.append(id, [NewEvent(type: try EventType("late"), compactData: Array("{}".utf8))]) }
    }

    @Test("a torn last line is never shown, the next append repairs it, and verify passes")
    func tornTailAcrossProcesses() throws {
        let dir = try StoreScratchDirectory()
        #expect(try StoreCLI.run(["create", "--journal", dir.journal, "--id", "t"]).status == 0)
        let batch = try StoreCLI.run(
            ["append", "--journal", dir.journal, "t", "-"], stdin: "{\"type\":\"run.started\"}\n{\"type\":\"step\",\"data\":{\"n\":1}}\n")
        #expect(batch.stdout == "2-3\n", "\(batch)")
        let good = dir.text("t")

        // What a crash in the middle of write(2) leaves: the start of seq 4 without its newline.
        let torn = #"{"seq":4,"ts":"2020-01-01T00:00:00.000Z","type":"step","data":{"n":"#
        let handle = try #require(FileHandle(forWritingAtPath: dir.path("t")))
        handle.seekToEndOfFile()
        handle.write(Data(torn.utf8))
        try handle.close()

        let show = try StoreCLI.run(["show", "--journal", dir.journal, "t"])
        #expect(show.status == 0, "\(show)")
        #expect(show.stdout.contains("\"last_seq\":3,"), "\(show)")
        let journal = try OpenJournal(path: dir.path("t"))
        var seqs: [Int64] = []
        let end = try journal.forEachLine(from: 0) { line in
            seqs.append(line.seq)
            return true
        }
        #expect(seqs == [1, 2, 3])
        #expect(end == Int64(good.utf8.count))
        #expect(try journal.offset(afterSeq: 3) == Int64(good.utf8.count))

        let before = try StoreCLI.run(["verify", "--journal", dir.journal, "t"])
        #expect(before.status == 1)
        #expect(before.stdout.contains("uncommitted tail (\(torn.utf8.count) bytes"), "\(before)")

        let append = try StoreCLI.run(["append", "--journal", dir.journal, "t", "step", #"{"n":2}"#])
        #expect(append.status == 0, "\(append)")
        #expect(append.stdout == "4\n")
        // A one-shot command says nothing on success; the cut is logged by `serve`, whose log is for that.
        #expect(append.stderr.isEmpty, "\(append)")
        let text = dir.text("t")
        #expect(text.hasPrefix(good))
        #expect(text.dropFirst(good.utf8.count).hasPrefix(#"{"seq":4,"#))
        #expect(text.hasSuffix(#""type":"step","data":{"n":2}}"# + "\n"))
        #expect(!text.contains(torn))

        let after = try StoreCLI.run(["verify", "--journal", dir.journal, "t"])
        #expect(after.status == 0, "\(after)")
        #expect(after.stdout == "t: ok (4 events)\n")
        let shown = try StoreCLI.run(["show", "--journal", dir.journal, "t"])
        #expect(shown.stdout.contains("\"last_seq\":4,"), "\(shown)")
    }
}
