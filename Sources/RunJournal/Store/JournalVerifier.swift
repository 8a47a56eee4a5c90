#if canImport(Glibc)
import Glibc
#endif

/// Checks a journal against every rule of the format, and repairs the one thing that may be repaired.
///
/// Verify never changes a file. Repair only truncates a torn tail (a last line without `\n`, which readers
/// never showed anyone), under the journal's `flock`; it never rewrites a good line. Any other problem is
/// reported for a human to look at.
public enum JournalVerifier {
    /// One rule broken at one line (1-based; the torn tail is reported at the line it would have been).
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    public struct Report: Sendable {
        public var path: String
        public var lineCount = 0
        public var problems: [Problem] = []
        /// Bytes after the last `\n` (a torn write); 0 when the file ends cleanly.
        public var tornTailBytes: Int64 = 0
        /// Set by `repair`: the torn tail was cut off.
        public var repaired = false
        public var isClean: Bool { problems.isEmpty && tornTailBytes == 0 }
    }

    /// Checks `path`: envelope and key order, `data` valid compact JSON, seqs contiguous from 1, `ts`
    /// non-decreasing, `run.created` first and only first with data `{"metadata":{…}}`, `run.stop_requested`
    /// at most once, at most one terminal event and it is last, and the file ends in `\n`. Stops collecting
    /// after `maxProblems`.
    public static func verify(path: String, maxProblems: Int = 100) throws -> Report {
        let journal = try OpenJournal(path: path)
        return try verify(journal, maxProblems: maxProblems)
    }

    static func verify(_ journal: OpenJournal, maxProblems: Int) throws -> Report {
        var report = Report(path: journal.path)
        var expectedSeq: Int64 = 1
        var lastMillis: Int64 = 0
        var terminalLine: Int?
        var stopRequestLine: Int?
        var lineNumber = 0
        var offset: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var filled = 0

        func problem(_ reason: String) {
            if report.problems.count < maxProblems { report.problems.append(Problem(line: lineNumber, reason: reason)) }
        }

        // A hand-rolled loop rather than JournalReader: verify must report a malformed line and go on.
        while true {
            if filled == chunk.count { chunk.append(contentsOf: repeatElement(0, count: chunk.count)) }
            let count = try chunk.withUnsafeMutableBytes { raw in
                try Sys.pread(journal.fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]), at: offset + Int64(filled), path: journal.path)
            }
            filled += count
            var consumed = 0
            chunk.withUnsafeBytes { raw in
                while consumed < filled {
                    guard let newline = memchr(raw.baseAddress! + consumed, 0x0A, filled - consumed) else { break }
                    let end = raw.baseAddress!.distance(to: UnsafeRawPointer(newline))
                    let line = UnsafeRawBufferPointer(rebasing: raw[consumed..<end])
                    lineNumber += 1
                    var failure = ""
                    if let fields = EventLine.scan(line, failure: &failure) {
                        let type = String(decoding: line[fields.type], as: UTF8.self)
                        let data = Array(line[fields.data])
                        if (try? JSONCompactor.compact(data)) != data {
                            problem("data is not valid compact JSON")
                        }
                        if fields.seq != expectedSeq { problem("seq \(fields.seq), expected \(expectedSeq)") }
                        expectedSeq = fields.seq + 1
                        if fields.timestampMillis < lastMillis { problem("ts goes backwards (\(Timestamp.format(millis: fields.timestampMillis)))") }
                        lastMillis = max(lastMillis, fields.timestampMillis)
                        if (lineNumber == 1) != (type == EventType.created.rawValue) {
                            problem(lineNumber == 1 ? "first event is \(type), not run.created" : "run.created after the first line")
                        }
                        if type == EventType.created.rawValue, !Self.isCreatedData(data) {
                            problem(#"run.created data is not {"metadata":{…}}"#)
                        }
                        if type == EventType.stopRequested.rawValue {
                            if let stopRequestLine { problem("run.stop_requested again (first at line \(stopRequestLine))") }
                            stopRequestLine = stopRequestLine ?? lineNumber
                        }
                        if let terminalLine { problem("event after the terminal event at line \(terminalLine)") }
                        if let eventType = try? EventType(type), eventType.isTerminal, terminalLine == nil {
                            terminalLine = lineNumber
                        }
                    } else {
                        problem(failure)
                        expectedSeq += 1
                    }
                    consumed = end + 1
                }
            }
            if consumed > 0 {
                chunk.withUnsafeMutableBytes { raw in
                    if filled > consumed { memmove(raw.baseAddress!, raw.baseAddress! + consumed, filled - consumed) }
                }
                offset += Int64(consumed)
                filled -= consumed
            }
            if count == 0 { break }
        }
        report.lineCount = lineNumber
        // What is left after the last newline is a torn write; it is reported apart from rule violations
        // because it is the one defect repair may fix.
        report.tornTailBytes = Int64(filled)
        if lineNumber == 0 {
            lineNumber = 1
            problem("no complete line (a journal starts with run.created)")
        }
        return report
    }

    /// Whether `data` is exactly `{"metadata":<object>}`, the only shape create writes.
    static func isCreatedData(_ data: [UInt8]) -> Bool {
        guard let members = try? JSONObjectReader.members(of: data[...]), members.count == 1,
            members[0].key == "metadata", members[0].value.first == UInt8(ascii: "{")
        else { return false }
        return true
    }

    /// Verifies `path` and, when its only defect is (or also includes) a torn tail, truncates the tail under
    /// the journal's `flock`. Good lines are never touched.
    public static func repair(path: String, maxProblems: Int = 100) throws -> Report {
        let fd = try Sys.open(path, O_RDWR)
        defer { close(fd) }
        try Sys.flock(fd, LOCK_EX, path: path)
        defer { Sys.unlock(fd) }
        let journal = try OpenJournal(path: path)
        var report = try verify(journal, maxProblems: maxProblems)
        if report.tornTailBytes > 0 {
            let size = try journal.size()
            try Sys.ftruncate(fd, size - report.tornTailBytes, path: path)
            try Sys.fdatasync(fd, path: path)
            report.repaired = true
        }
        return report
    }
}
