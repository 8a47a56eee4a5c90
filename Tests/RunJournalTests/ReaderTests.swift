import Testing

@testable import RunJournal

/// One multi-megabyte journal (lines of varying length, so line starts fall anywhere relative to the
/// reader's chunks and the bisection's probes) shared by the reader tests.
final class LargeJournal: Sendable {
    static let shared = try! LargeJournal()

    let directory = TemporaryDirectory("reader")
    let id = runID("large")
    let path: String
    /// `lineStarts[k]` is the offset of the line with seq k + 1; the last entry is the file size.
    let lineStarts: [Int64]
    var lastSeq: Int64 { Int64(lineStarts.count - 1) }

    init() throws {
        let store = try makeStore(directory)
        try store.create(id: id)
        var batch: [NewEvent] = []
        for index in 2...40_000 {
            let padding = String(repeating: "p", count: (index * 37) % 211)
            batch.append(NewEvent(type: try EventType("step"), compactData: Array(#"{"i":\#(index),"pad":"\#(padding)"}"#.utf8)))
            if batch.count == 1000 {
                try store.append(id, batch)
                batch.removeAll()
            }
        }
        if !batch.isEmpty { try store.append(id, batch) }
        path = store.path(of: id)
        var starts: [Int64] = [0]
        for (offset, byte) in readBytes(path).enumerated() where byte == 0x0A { starts.append(Int64(offset) + 1) }
        lineStarts = starts
    }
}

@Suite("Journal reader")
struct ReaderTests {
    let large = LargeJournal.shared

    @Test("the test journal is several megabytes and well formed")
    func fixture() throws {
        #expect(large.lastSeq == 40_000)
        #expect(large.lineStarts.last! > 4 << 20)
        #expect(try JournalVerifier.verify(path: large.path).isClean)
    }

    @Test("reading from 0 yields every line once, in order, with offsets and fields")
    func readsAll() throws {
        let journal = try OpenJournal(path: large.path, id: large.id)
        var expected: Int64 = 1
        var ok = true
        let end = try journal.forEachLine(from: 0) { line in
            if line.seq != expected || line.offset != large.lineStarts[Int(expected - 1)]
                || line.endOffset != large.lineStarts[Int(expected)]
                || (expected > 1 && line.typeString != "step")
            {
                ok = false
                return false
            }
            if expected > 1, !String(decoding: line.data, as: UTF8.self).hasPrefix(#"{"i":\#(expected),"#) {
                ok = false
                return false
            }
            expected += 1
            return true
        }
        #expect(ok, "wrong line at seq \(expected)")
        #expect(expected == 40_001)
        #expect(end == large.lineStarts.last!)
    }

    @Test("reading from a line's offset starts at that line and runs to the end")
    func readsFromOffset() throws {
        let journal = try OpenJournal(path: large.path)
        for seq in [1, 2, 1234, 20_000, 39_999, 40_000] {
            let (seqs, end) = try readSeqs(journal, from: large.lineStarts[seq - 1])
            #expect(seqs.first == Int64(seq))
            #expect(seqs == Array(Int64(seq)...40_000))
            #expect(end == large.lineStarts.last!)
        }
        let (none, end) = try readSeqs(journal, from: large.lineStarts.last!)
        #expect(none.isEmpty)
        #expect(end == large.lineStarts.last!)
    }

    @Test("stopping early returns the offset just after the last line consumed")
    func stopsEarly() throws {
        let journal = try OpenJournal(path: large.path)
        var count = 0
        let end = try journal.forEachLine(from: large.lineStarts[99]) { _ in
            count += 1
            return count < 5
        }
        #expect(count == 5)
        #expect(end == large.lineStarts[104])
    }

    @Test("offset(afterSeq:) finds the line after seq at every boundary")
    func offsetAfterSeqBoundaries() throws {
        let journal = try OpenJournal(path: large.path)
        let end = large.lineStarts.last!
        #expect(try journal.offset(afterSeq: 0) == 0)
        #expect(try journal.offset(afterSeq: -3) == 0)
        #expect(try journal.offset(afterSeq: 1) == large.lineStarts[1])
        #expect(try journal.offset(afterSeq: 20_000) == large.lineStarts[20_000])
        #expect(try journal.offset(afterSeq: 39_999) == large.lineStarts[39_999])
        #expect(try journal.offset(afterSeq: 40_000) == end)
        #expect(try journal.offset(afterSeq: 40_001) == end)
        #expect(try journal.offset(afterSeq: .max) == end)
    }

    @Test("offset(afterSeq:) agrees with a linear scan for seqs spread over the whole file")
    func offsetAfterSeqSweep() throws {
        let journal = try OpenJournal(path: large.path)
        var seqs = Array(Int64(1)...60) + Array(Int64(39_940)...40_000)
        seqs += stride(from: Int64(61), to: 39_940, by: 173).map { $0 }
        var wrong: [Int64] = []
        for seq in seqs where try journal.offset(afterSeq: seq) != large.lineStarts[Int(seq)] {
            wrong.append(seq)
        }
        #expect(wrong.isEmpty)
    }

    @Test("reading on from offset(afterSeq:) resumes exactly after that seq")
    func resumesAfterSeq() throws {
        let journal = try OpenJournal(path: large.path)
        for seq: Int64 in [0, 1, 7777, 39_999] {
            let (seqs, _) = try readSeqs(journal, from: try journal.offset(afterSeq: seq))
            #expect(seqs.first == seq + 1)
            #expect(seqs.count == Int(40_000 - seq))
        }
    }

    @Test("a line longer than the read chunk is read whole")
    func longLine() throws {
        let directory = TemporaryDirectory("long")
        let store = try makeStore(directory)
        let id = runID("long")
        try store.create(id: id)
        let big = "{\"s\":\"" + String(repeating: "y", count: 700_000) + "\"}"
        try store.append(id, [try event("a"), try event("big", big), try event("b")])
        let journal = try store.openReader(id)
        var sizes: [Int] = []
        try journal.forEachLine(from: 0) { line in
            sizes.append(line.data.count)
            return true
        }
        #expect(sizes == [15, 2, big.utf8.count, 2])
        let starts = [0] + readBytes(store.path(of: id)).enumerated().filter { $0.element == 0x0A }.map { Int64($0.offset + 1) }
        #expect(try journal.offset(afterSeq: 2) == starts[2])
        #expect(try journal.offset(afterSeq: 3) == starts[3])
        #expect(try journal.offset(afterSeq: 4) == starts[4])
    }

    @Test("tiny read chunks split lines at every possible position and the reader still yields each line once")
    func tinyChunks() throws {
        let directory = TemporaryDirectory("chunks")
        let store = try makeStore(directory)
        let id = runID("c")
        try store.create(id: id)
        for index in 0..<40 {
            try store.append(id, [try event("e", #"{"s":"\#(String(repeating: "x", count: (index * 13) % 97))"}"#)])
        }
        let path = store.path(of: id)
        appendText(path, #"{"seq":42,"ts":"2026"#)  // and a torn tail to hold back
        let starts = [Int64(0)] + readBytes(path).enumerated().filter { $0.element == 0x0A }.map { Int64($0.offset + 1) }
        let journal = try OpenJournal(path: path)
        for chunkSize in [1, 2, 3, 7, 16, 63, 64, 65, 100, 127, 128, 129, 200, 4096] {
            var reader = journal.reader
            reader.chunkSize = chunkSize
            var seqs: [Int64] = []
            var offsets: [Int64] = []
            let end = try reader.forEachLine(from: 0) { line in
                seqs.append(line.seq)
                offsets.append(line.offset)
                return true
            }
            #expect(seqs == Array(1...41), "chunk \(chunkSize)")
            #expect(offsets == Array(starts.prefix(41)), "chunk \(chunkSize)")
            #expect(end == starts[41], "chunk \(chunkSize)")
            for seq in [0, 1, 20, 40, 41, 42] as [Int64] {
                let expected = seq >= 41 ? starts[41] : starts[Int(seq)]
                #expect(try reader.offset(afterSeq: seq, fileSize: try journal.size()) == expected, "chunk \(chunkSize) seq \(seq)")
            }
        }
    }

    @Test("a reader sees lines appended after it was opened")
    func seesGrowth() throws {
        let directory = TemporaryDirectory("grow")
        let store = try makeStore(directory)
        let id = runID("g")
        try store.create(id: id)
        let journal = try store.openReader(id)
        var (seqs, end) = try readSeqs(journal)
        #expect(seqs == [1])
        try store.append(id, [try event("a"), try event("b")])
        (seqs, end) = try readSeqs(journal, from: end)
        #expect(seqs == [2, 3])
        #expect(end == (try journal.size()))
    }

    @Test("a corrupt line stops the reader with its byte offset")
    func corruptLine() throws {
        let directory = TemporaryDirectory("corrupt")
        let path = directory.file("c.jsonl")
        let first = line(1, 0, "run.created", #"{"metadata":{}}"#)
        writeText(path, first + "{\"seq\":2,\"oops\":1}\n")
        let journal = try OpenJournal(path: path)
        var seen: [Int64] = []
        let error = journalError {
            try journal.forEachLine(from: 0) { line in
                seen.append(line.seq)
                return true
            }
        }
        #expect(seen == [1])
        #expect(error == .corruptJournal(path: path, line: 0, reason: "at byte \(first.utf8.count): expected ,\"ts\":\" after seq"))
    }

    @Test("opening a reader on an unknown run is runNotFound")
    func unknownRun() throws {
        let directory = TemporaryDirectory("unknown")
        let store = try makeStore(directory)
        #expect(journalError { try store.openReader(runID("nope")) } == .runNotFound(runID("nope")))
        #expect(journalError { try OpenJournal(path: directory.file("nope.jsonl")) } == .io(operation: "open", path: directory.file("nope.jsonl"), errno: 2))
    }
}
