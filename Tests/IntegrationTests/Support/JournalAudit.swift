import Foundation

/// The events the disk-fault tests append: every event's data says which batch it belongs to, where in
/// it and how long the batch is (`{"b":7,"i":0,"n":3,"pad":"…"}`), so a journal read back after a fault
/// tells by itself whether a batch is all there, and which acknowledged events are missing. A single
/// event is a batch of one.
enum FaultEvents {
    static func data(batch: Int, index: Int, count: Int, padding: Int) -> String {
        #"{"b":\#(batch),"i":\#(index),"n":\#(count),"pad":"\#(String(repeating: "x", count: padding))"}"#
    }

    /// `{"type":"fault.step","data":…}` for event `index` of batch `batch`.
    static func event(batch: Int, index: Int, count: Int, padding: Int) -> String {
        #"{"type":"fault.step","data":\#(data(batch: batch, index: index, count: count, padding: padding))}"#
    }

    /// The NDJSON body of a whole batch (one line per event).
    static func ndjson(batch: Int, count: Int, padding: Int) -> String {
        (0..<count).map { event(batch: batch, index: $0, count: count, padding: padding) + "\n" }.joined()
    }
}

/// A journal read back from disk after a fault, checked against what its writers were told: every
/// acknowledged event must be there with the seq it was acknowledged with, every batch must be all there
/// or absent, and seqs must run 1, 2, 3, … with no gap.
///
/// "There" means what a reader may show: lines up to the last one without `"more":true`. Lines after it
/// belong to a batch whose last line never reached the disk; readers ignore them and `verify --repair`
/// cuts them, so they are counted (`uncommittedLines`) but are not a partial batch.
struct JournalAudit {
    struct Line {
        let seq: Int64
        let type: String
        /// The `FaultEvents` position, for the tests' own events.
        let batch: Int?
        let index: Int?
        let count: Int?
        /// `"more":true`: a batch line that is not the batch's last.
        let more: Bool
    }

    /// A batch a writer got a success for (HTTP 201, or the CLI's exit 0), with the seqs it was told.
    struct Acknowledged {
        let batch: Int
        let count: Int
        let seqs: ClosedRange<Int64>
    }

    /// The committed lines (see above).
    let lines: [Line]
    /// Complete lines after the last committed one.
    let uncommittedLines: Int
    /// Bytes after the last newline (a torn last line).
    let tornTailBytes: Int
    /// Complete lines that are not JSON events (say, blocks of zeros where a write never reached the disk).
    let unreadableLines: [String]

    init(path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var lines: [Line] = []
        var unreadable: [String] = []
        var start = 0
        for (offset, byte) in bytes.enumerated() where byte == 0x0A {
            let text = Data(bytes[start..<offset])
            start = offset + 1
            guard let object = try? JSONSerialization.jsonObject(with: text) as? [String: Any],
                let seq = object["seq"] as? Int, let type = object["type"] as? String
            else {
                unreadable.append(String(decoding: text.prefix(80), as: UTF8.self))
                continue
            }
            let data = object["data"] as? [String: Any]
            lines.append(Line(
                seq: Int64(seq), type: type, batch: data?["b"] as? Int, index: data?["i"] as? Int, count: data?["n"] as? Int,
                more: object["more"] as? Bool == true))
        }
        let committed = (lines.lastIndex { !$0.more } ?? -1) + 1
        self.lines = Array(lines[..<committed])
        uncommittedLines = lines.count - committed
        tornTailBytes = bytes.count - start
        unreadableLines = unreadable
    }

    /// What is wrong with the journal, as figures a test can assert on and print.
    struct Findings: CustomStringConvertible {
        var acknowledgedEvents = 0
        /// Acknowledged events not found at their acknowledged seq.
        var lostEvents = 0
        var lostExamples: [String] = []
        /// Batches only partly in the journal.
        var partialBatches: [Int] = []
        /// Where seqs stop being 1, 2, 3, … (nil when they do not).
        var seqGap: String?
        var unreadableLines = 0

        var description: String {
            "acknowledged \(acknowledgedEvents) events, lost \(lostEvents) \(lostExamples.prefix(5)); partial batches \(partialBatches.prefix(10)) (\(partialBatches.count)); seq gap: \(seqGap ?? "none"); unreadable lines \(unreadableLines)"
        }
    }

    func check(_ acknowledged: [Acknowledged]) -> Findings {
        var findings = Findings()
        findings.unreadableLines = unreadableLines.count
        let lineBySeq = Dictionary(lines.map { ($0.seq, $0) }, uniquingKeysWith: { first, _ in first })
        for batch in acknowledged {
            findings.acknowledgedEvents += batch.count
            for (index, seq) in batch.seqs.enumerated() {
                let line = lineBySeq[seq]
                if line?.batch != batch.batch || line?.index != index || line?.count != batch.count {
                    findings.lostEvents += 1
                    if findings.lostExamples.count < 5 {
                        findings.lostExamples.append("seq \(seq) (batch \(batch.batch) event \(index)) holds \(line.map { "batch \($0.batch ?? -1) event \($0.index ?? -1)" } ?? "nothing")")
                    }
                }
            }
        }
        var linesByBatch: [Int: [Line]] = [:]
        for line in lines { if let batch = line.batch { linesByBatch[batch, default: []].append(line) } }
        for (batch, batchLines) in linesByBatch {
            let count = batchLines[0].count ?? 0
            let seqs = batchLines.map(\.seq)
            let whole = batchLines.count == count && batchLines.map { $0.index ?? -1 } == Array(0..<count)
                && seqs.last! - seqs.first! == Int64(count - 1)
            if !whole { findings.partialBatches.append(batch) }
        }
        findings.partialBatches.sort()
        for (position, line) in lines.enumerated() where line.seq != Int64(position + 1) {
            findings.seqGap = "line \(position + 1) has seq \(line.seq)"
            break
        }
        return findings
    }
}
