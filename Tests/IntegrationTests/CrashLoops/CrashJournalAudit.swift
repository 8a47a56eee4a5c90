import Foundation
import RunJournal
#if canImport(Glibc)
import Glibc
#endif

/// Checks a journal written by crash-loop writers against what they were told: seqs contiguous from 1,
/// every acknowledged batch there whole at the seqs it was acknowledged with, and every batch either whole
/// or entirely absent. Works on a list of lines, so the same rules judge what the store's reader yields
/// and what the file holds.
struct CrashJournalAudit {
    /// The `data` of a crash-loop event, `{"w":W,"b":B,"i":I,"n":N}`.
    struct Step: Hashable {
        let writer: Int
        let batch: Int
        let index: Int
        let count: Int

        var key: CrashBatch.Key { CrashBatch.Key(writer: writer, batch: batch) }

        /// Parses the exact compact form the writers send (the store keeps `data` byte for byte); nil for
        /// any other data (`run.created`, the round's marker).
        init?(data: UnsafeRawBufferPointer) {
            var scanner = ByteScanner(data)
            guard scanner.take(#"{"w":"#), let writer = scanner.number(), scanner.take(#","b":"#), let batch = scanner.number(),
                scanner.take(#","i":"#), let index = scanner.number(), scanner.take(#","n":"#), let count = scanner.number(),
                scanner.take("}"), scanner.atEnd
            else { return nil }
            (self.writer, self.batch, self.index, self.count) = (Int(writer), Int(batch), Int(index), Int(count))
        }

        init(writer: Int, batch: Int, index: Int, count: Int) {
            (self.writer, self.batch, self.index, self.count) = (writer, batch, index, count)
        }
    }

    /// One journal line, as the audit needs it.
    struct Line {
        let seq: Int64
        let step: Step?
        /// The line carries `"more":true` (a batch continues on the next line).
        let more: Bool
    }

    // MARK: reading

    /// Every line the store's reader yields (`OpenJournal.forEachLine`), which is what a reader publishes:
    /// a replay, the SSE stream and `tail` all read through it.
    static func readerView(_ path: String) throws -> [Line] {
        var lines: [Line] = []
        try OpenJournal(path: path).forEachLine(from: 0) { line in
            lines.append(Line(seq: line.seq, step: Step(data: line.data), more: hasMore(line.bytes)))
            return true
        }
        return lines
    }

    /// What the file holds: every complete line, scanned byte by byte without the store's reader, plus the
    /// bytes after the last newline (a torn tail) and any complete line that is not a valid envelope.
    static func fileView(_ path: String) -> (lines: [Line], tornTailBytes: Int, malformed: [String]) {
        let bytes = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
        var lines: [Line] = []
        var malformed: [String] = []
        var start = 0
        bytes.withUnsafeBytes { raw in
            while start < raw.count, let newline = memchr(raw.baseAddress! + start, 0x0A, raw.count - start) {
                let end = raw.baseAddress!.distance(to: UnsafeRawPointer(newline))
                let line = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                if let parsed = parseLine(line) {
                    lines.append(parsed)
                } else if malformed.count < 5 {
                    malformed.append("byte \(start): \(String(decoding: line.prefix(200), as: UTF8.self))")
                }
                start = end + 1
            }
        }
        return (lines, bytes.count - start, malformed)
    }

    /// `{"seq":N,"ts":"<24 bytes>","type":"T"` then `,"more":true` or not, then `,"data":D}`.
    private static func parseLine(_ line: UnsafeRawBufferPointer) -> Line? {
        var scanner = ByteScanner(line)
        guard scanner.take(#"{"seq":"#), let seq = scanner.number(), scanner.take(#","ts":""#), scanner.skip(24),
            scanner.take(#"","type":""#), scanner.skip(past: UInt8(ascii: "\""))
        else { return nil }
        let more = scanner.take(#","more":true"#)
        guard scanner.take(#","data":"#), line.count > scanner.position, line[line.count - 1] == UInt8(ascii: "}") else { return nil }
        return Line(seq: seq, step: Step(data: UnsafeRawBufferPointer(rebasing: line[scanner.position..<(line.count - 1)])), more: more)
    }

    /// Whether the line has `"more":true` right after its type, where the envelope puts it.
    private static func hasMore(_ line: UnsafeRawBufferPointer) -> Bool {
        var scanner = ByteScanner(line)
        guard scanner.take(#"{"seq":"#), scanner.number() != nil, scanner.take(#","ts":""#), scanner.skip(24),
            scanner.take(#"","type":""#), scanner.skip(past: UInt8(ascii: "\""))
        else { return false }
        return scanner.take(#","more":true"#)
    }

    // MARK: judging

    var lineCount = 0
    var lastSeq: Int64 = 0
    /// Seqs not contiguous from 1 (the first few).
    var seqProblems: [String] = []
    /// Acknowledged batches not found whole at their acknowledged seqs.
    var lostAcknowledged: [String] = []
    /// Batches present in part: some of their events are there, not all.
    var partialBatches: [String] = []
    /// Events of the partial batches that are there.
    var partialBatchEvents = 0
    /// Lines whose data no writer sent.
    var unknownLines: [String] = []
    /// Batches present whole though never acknowledged (killed after the write, or a 502 after it).
    var wholeUnacknowledged = 0
    var acknowledgedBatches = 0
    var acknowledgedEvents = 0

    init(lines: [Line], sent: [(batch: CrashBatch, outcome: CrashBatchOutcome)]) {
        lineCount = lines.count
        lastSeq = lines.last?.seq ?? 0
        for (offset, line) in lines.enumerated() where line.seq != Int64(offset + 1) {
            if seqProblems.count < 5 { seqProblems.append("line \(offset + 1) has seq \(line.seq)") }
        }

        var bySeq: [Int64: Step] = [:]
        var groups: [CrashBatch.Key: [(seq: Int64, index: Int)]] = [:]
        for line in lines {
            guard let step = line.step else { continue }
            bySeq[line.seq] = step
            groups[step.key, default: []].append((line.seq, step.index))
        }
        var batches: [CrashBatch.Key: (batch: CrashBatch, outcome: CrashBatchOutcome)] = [:]
        for entry in sent { batches[entry.batch.key] = entry }

        for (key, members) in groups.sorted(by: { $0.value[0].seq < $1.value[0].seq }) {
            guard let (batch, outcome) = batches[key] else {
                if unknownLines.count < 5 { unknownLines.append("writer \(key.writer) batch \(key.batch) at seq \(members[0].seq): never sent") }
                continue
            }
            let whole = members.count == batch.count
                && members.enumerated().allSatisfy { $0.offset == $0.element.index }
                && members[members.count - 1].seq - members[0].seq == Int64(batch.count - 1)
            if !whole {
                partialBatchEvents += members.count
                partialBatches.append(
                    "\(batch): \(members.count) events at seqs \(members[0].seq)…\(members[members.count - 1].seq), "
                        + (outcome.seqs.map { "acknowledged as \($0.lowerBound)…\($0.upperBound)" } ?? "not acknowledged"))
            } else if outcome.seqs == nil {
                wholeUnacknowledged += 1
            }
        }

        for (batch, outcome) in sent {
            guard let seqs = outcome.seqs else { continue }
            acknowledgedBatches += 1
            acknowledgedEvents += batch.count
            let there = seqs.count == batch.count && (0..<batch.count).allSatisfy {
                bySeq[seqs.lowerBound + Int64($0)] == Step(writer: batch.writer, batch: batch.batch, index: $0, count: batch.count)
            }
            if !there { lostAcknowledged.append("\(batch) acknowledged as \(seqs.lowerBound)…\(seqs.upperBound)") }
        }
    }
}

/// A cursor over bytes for the audit's fixed-layout parsing: cheap even in a debug build, where the test
/// reads a few MB per round.
private struct ByteScanner {
    let bytes: UnsafeRawBufferPointer
    private(set) var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { position == bytes.count }

    /// Consumes `literal` if the bytes continue with it.
    mutating func take(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - position >= count, memcmp(bytes.baseAddress! + position, literal.utf8Start, count) == 0 else { return false }
        position += count
        return true
    }

    /// Consumes a non-negative decimal number (at most 17 digits).
    mutating func number() -> Int64? {
        var value: Int64 = 0
        let start = position
        while position < bytes.count, position - start < 17 {
            let byte = bytes[position]
            guard byte >= 0x30 && byte <= 0x39 else { break }
            value = value * 10 + Int64(byte - 0x30)
            position += 1
        }
        return position > start ? value : nil
    }

    mutating func skip(_ count: Int) -> Bool {
        guard bytes.count - position >= count else { return false }
        position += count
        return true
    }

    /// Consumes everything up to and including the next `byte`.
    mutating func skip(past byte: UInt8) -> Bool {
        guard position < bytes.count, let found = memchr(bytes.baseAddress! + position, Int32(byte), bytes.count - position) else { return false }
        position = bytes.baseAddress!.distance(to: UnsafeRawPointer(found)) + 1
        return true
    }
}
