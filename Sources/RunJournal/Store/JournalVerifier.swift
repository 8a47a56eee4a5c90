#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// Checks a journal against every rule of the format, and repairs what may be repaired.
///
/// Verify never changes a file. Repair, under the journal's `flock`, truncates an uncommitted tail (a last line
/// without `\n`, or the lines of a batch whose last line is missing: no reader ever showed them), and rewrites
/// a *failed* journal (see `JournalFailure`) into a new file that it syncs and renames over the old one, so
/// what is still readable becomes durable again; it never changes a good line. Any other problem is reported
/// for a human to look at.
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
        /// Bytes after the last committed line: a torn write, or a batch whose last line is missing; 0 when
        /// the file ends cleanly. Lines counted here are not in `lineCount`.
        public var tornTailBytes: Int64 = 0
        /// Set by `repair`: the uncommitted tail was cut off.
        public var repaired = false
        /// The journal was failed (its marker exists).
        public var failed: JournalFailure?
        /// Set by `repair`: the failed journal was rewritten into a new, synced file and its marker removed.
        public var rewritten = false
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
        // The batch in progress: lines with "more":true since the last committed line.
        var pendingLines = 0
        var pendingStart: Int64 = 0
        var batchFirstSeq: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var filled = 0

        func problem(_ reason: String) {
            if report.problems.count < maxProblems { report.problems.append(Problem(line: lineNumber, reason: reason)) }
        }

        // A hand-rolled loop rather than JournalReader: verify must report a malformed line and go on.
        while true {
            if filled == chunk.count { chunk.append(contentsOf: repeatElement(0, count: chunk.count)) }
            let count = try chunk.withUnsafeMutableBytes { raw in
                try asJournalError { try Sys.preadFully(journal.fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]), at: offset + Int64(filled), path: journal.path) }
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
                        if pendingLines == 0 {
                            pendingStart = offset + Int64(consumed)
                            batchFirstSeq = fields.seq
                        }
                        if fields.more {
                            pendingLines += 1
                            if fields.idempotency != nil { problem("idempotency record on a line that does not end its batch") }
                        } else {
                            pendingLines = 0
                            if let range = fields.idempotency {
                                if let record = IdempotencyRecord.parse(UnsafeRawBufferPointer(rebasing: line[range])) {
                                    if record.firstSeq != batchFirstSeq {
                                        problem("idempotency first_seq \(record.firstSeq), but the batch starts at seq \(batchFirstSeq)")
                                    }
                                } else {
                                    problem("idempotency record is malformed")
                                }
                            }
                        }
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
                        pendingLines = 0
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
        // What is left after the last committed line is a torn write (or an incomplete batch); it is reported
        // apart from rule violations because it is the one defect repair may cut. Problems found on those lines
        // are not the file's: they are dropped with them.
        if pendingLines > 0 {
            lineNumber -= pendingLines
            report.problems.removeAll { $0.line > lineNumber }
            report.tornTailBytes = offset + Int64(filled) - pendingStart
        } else {
            report.tornTailBytes = Int64(filled)
        }
        report.lineCount = lineNumber
        report.failed = JournalFailure.readMarker(forJournal: journal.path)
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

    /// Verifies `path` and repairs it under the journal's `flock`: a failed journal is rewritten (see
    /// `rewriteFailed`); otherwise an uncommitted tail is truncated. Good lines are never changed. Throws when
    /// a failed journal cannot be rewritten (the disk still fails): the marker then stays.
    public static func repair(path: String, maxProblems: Int = 100, faults: StoreFaults = StoreFaults()) throws -> Report {
        let io = JournalIO(faults: faults)
        let fd = try asJournalError { try Sys.open(path, O_RDWR) }
        defer { close(fd) }
        try asJournalError { try Sys.flock(fd, LOCK_EX, path: path) }
        defer { Sys.unlock(fd) }
        let journal = try OpenJournal(path: path)
        // The lock is on the file `fd` opened; what is read and repaired must be that file, not one a delete and
        // re-create (or another repair's rename) put at the path in between.
        guard try asJournalError({ try Sys.fstat(fd, path: path) }).inode == journal.inode() else {
            throw JournalError.corruptJournal(path: path, line: 0, reason: "the journal was replaced while the repair took its lock; run it again")
        }
        var report = try verify(journal, maxProblems: maxProblems)
        if report.failed != nil {
            let size = try journal.size()
            try rewriteFailed(path: path, from: journal, committedSize: size - report.tornTailBytes, io: io)
            report.rewritten = true
            report.repaired = report.tornTailBytes > 0
        } else if report.tornTailBytes > 0 {
            let size = try journal.size()
            try io.ftruncate(fd, size - report.tornTailBytes, path: path)
            try io.fdatasync(fd, path: path)
            report.repaired = true
        }
        return report
    }

    /// Copies the committed bytes of a failed journal into a new file beside it, syncs that, renames it over the
    /// journal, syncs the directory and removes the marker. A second `fdatasync` of the old file proves nothing
    /// (Linux reports a writeback error once), so the bytes are written again: what is still readable becomes
    /// durable, as PostgreSQL recovers from its WAL. The old file is left untouched if any step fails.
    static func rewriteFailed(path: String, from journal: OpenJournal, committedSize: Int64, io: JournalIO) throws {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let name = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = directory + "/.repair-" + name + ".tmp"
        unlink(temporary)
        // The rewrite replaces the journal: it keeps the journal's permission bits.
        let mode = try asJournalError { try Sys.fstat(journal.fd, path: path) }.permissions
        let out = try asJournalError { try Sys.createFile(temporary, mode: mode) }
        do {
            defer { close(out) }
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var position: Int64 = 0
            while position < committedSize {
                let want = Int(min(Int64(buffer.count), committedSize - position))
                let count = try buffer.withUnsafeMutableBytes { raw in
                    try asJournalError { try Sys.preadFully(journal.fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[..<want]), at: position, path: path) }
                }
                if count == 0 { break }
                try buffer.withUnsafeBytes { raw in try io.writeAll(out, UnsafeRawBufferPointer(rebasing: raw[..<count]), path: temporary) }
                position += Int64(count)
            }
            try io.fdatasync(out, path: temporary)
            try io.rename(temporary, path)
        } catch {
            unlink(temporary)
            throw error
        }
        try io.fsyncDirectory(directory)
        let marker = JournalFailure.markerPath(forJournal: path)
        if unlink(marker) != 0 && errno != ENOENT { throw JournalError.io(operation: "unlink", path: marker, errno: errno) }
        try io.fsyncDirectory(directory)
    }
}
