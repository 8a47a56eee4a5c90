#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// Streams the complete lines of a journal from a byte offset, in bounded memory.
///
/// Reads fixed-size chunks with `pread` and scans each line's envelope without decoding JSON. A last line
/// without `\n` (being written, or torn by a crash) is never yielded: it is held back until completed.
public struct JournalReader {
    let fd: Int32
    let path: String
    /// Bytes read per `pread`; a line longer than this grows the buffer to fit it.
    var chunkSize = 256 * 1024

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// One complete line, valid only inside the callback.
    public struct Line {
        /// The line without its `\n`.
        public let bytes: UnsafeRawBufferPointer
        public let fields: EventLine.Fields
        /// File offset of the line's first byte.
        public let offset: Int64

        public var seq: Int64 { fields.seq }
        public var type: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[fields.type]) }
        public var data: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[fields.data]) }
        /// File offset just past the line's `\n`: where a reader continues after it.
        public var endOffset: Int64 { offset + Int64(bytes.count) + 1 }
        public var typeString: String { String(decoding: type, as: UTF8.self) }

        public init(bytes: UnsafeRawBufferPointer, fields: EventLine.Fields, offset: Int64) {
            self.bytes = bytes
            self.fields = fields
            self.offset = offset
        }
    }

    /// Calls `body` for each complete line in `buffer`, whose first byte is at file offset `offset` (bytes after
    /// the last `\n` are ignored). Throws `corruptJournal` for a line that is not a valid envelope. For bytes
    /// known to be committed: what the tailer published (it publishes whole batches only, but a subscriber may
    /// read them in pieces that end inside a batch), or what this process just wrote. Reading a *file* goes
    /// through `forEachLine(from:)`, which applies the batch rule itself.
    public static func forEachLine(
        in buffer: UnsafeRawBufferPointer, offset: Int64, path: String, _ body: (Line) throws -> Bool
    ) throws {
        guard let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count {
            guard let newline = memchr(base + start, 0x0A, buffer.count - start) else { return }
            let end = base.distance(to: UnsafeRawPointer(newline))
            let lineBytes = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            var failure = ""
            guard let fields = EventLine.scan(lineBytes, failure: &failure) else {
                throw JournalError.corruptJournal(path: path, line: 0, reason: "at byte \(offset + Int64(start)): \(failure)")
            }
            guard try body(Line(bytes: lineBytes, fields: fields, offset: offset + Int64(start))) else { return }
            start = end + 1
        }
    }

    /// Calls `body` for each committed line at or after `offset` (which must be a line start) until the end
    /// of the file (or `limit`: bytes from there on are treated as not written yet) or until `body` returns
    /// false. Returns the offset after the last line consumed: never inside a batch whose last line is not
    /// there yet.
    @discardableResult
    public func forEachLine(
        from offset: Int64, limit: Int64 = .max, _ body: (Line) throws -> Bool
    ) throws -> Int64 {
        // Uninitialized: `pread` fills what is used, and zero-filling 256 KiB per call showed up in profiles.
        var buffer = [UInt8](unsafeUninitializedCapacity: chunkSize) { _, initialized in initialized = chunkSize }
        var fileOffset = offset  // offset of buffer[0]
        var filled = 0
        var scanner = CommittedLineScanner()
        while true {
            if filled == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
            let position = fileOffset + Int64(filled)
            let room = Int(min(Int64(buffer.count - filled), max(0, limit - position)))
            let count = try buffer.withUnsafeMutableBytes { raw throws -> Int in
                try asJournalError { try Sys.preadFully(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled..<(filled + room)]), at: position, path: path) }
            }
            if count == 0 { return fileOffset }
            filled += count
            let (consumed, stopped) = try buffer.withUnsafeBytes { raw throws in
                try scanner.scan(UnsafeRawBufferPointer(rebasing: raw[..<filled]), offset: fileOffset, path: path, body)
            }
            if stopped { return fileOffset + Int64(consumed) }
            if consumed > 0 {
                // Move the uncommitted rest (a partial line, or a batch still being written) to the front and
                // read on after it.
                buffer.withUnsafeMutableBytes { raw in
                    if filled > consumed { memmove(raw.baseAddress!, raw.baseAddress! + consumed, filled - consumed) }
                }
                fileOffset += Int64(consumed)
                filled -= consumed
            }
        }
    }

    /// The offset of the first line with seq > `seq` (the end of the complete lines when there is none),
    /// found by bisection over the file (seqs are contiguous and in file order), so resuming deep into a
    /// large journal reads a few blocks, not the whole file.
    public func offset(afterSeq seq: Int64, fileSize: Int64) throws -> Int64 {
        if seq <= 0 { return 0 }
        var low: Int64 = 0  // always a line start whose seq <= `seq`
        var high = fileSize  // the answer lies before this
        var buffer = [UInt8](repeating: 0, count: 4096)
        while high - low > 64 * 1024 {
            let middle = low + (high - low) / 2
            guard let (lineStart, lineSeq) = try firstLine(atOrAfter: middle, limit: high, buffer: &buffer) else {
                high = middle
                continue
            }
            if lineSeq <= seq { low = lineStart } else { high = lineStart }
        }
        var answer: Int64?
        // What is left is at most 64 KiB plus the line that ends it: read it in chunks of about that size
        // rather than the streaming chunk size (this runs on every resume).
        var scanner = self
        scanner.chunkSize = min(chunkSize, 80 * 1024)
        let end = try scanner.forEachLine(from: low) { (line: Line) throws -> Bool in
            if line.seq > seq { answer = line.offset; return false }
            return true
        }
        return answer ?? end
    }

    /// The first line that starts strictly after `position - 1`'s newline, i.e. the next line start at or after
    /// `position` (position 0 is a line start), with its seq; nil when none starts before `limit`.
    private func firstLine(atOrAfter position: Int64, limit: Int64, buffer: inout [UInt8]) throws -> (Int64, Int64)? {
        var lineStart = position
        if position > 0 {
            // Find the newline ending the line that contains position - 1.
            var probe = position - 1
            while true {
                if probe >= limit { return nil }
                let count = try buffer.withUnsafeMutableBytes { raw throws in try asJournalError { try Sys.preadFully(fd, into: raw, at: probe, path: path) } }
                if count == 0 { return nil }
                if let index = buffer[..<count].firstIndex(of: 0x0A) {
                    lineStart = probe + Int64(index) + 1
                    break
                }
                probe += Int64(count)
            }
        }
        if lineStart >= limit { return nil }
        var found: (Int64, Int64)?
        var probeReader = self
        probeReader.chunkSize = 8192
        try probeReader.forEachLine(from: lineStart) { (line: Line) throws -> Bool in
            found = (line.offset, line.seq)
            return false
        }
        return found
    }
}

/// Finds the committed lines in a run of bytes that starts at a line start: the reader's rule that a batch is
/// seen whole or not at all. Lines of a batch (`"more":true`) are remembered until the batch's last line
/// arrives, then all are yielded; the scanner never yields past the last committed line.
struct CommittedLineScanner {
    /// Lines of the batch in progress: (start, end) within the buffer being scanned, and their fields. Kept
    /// across calls, so a large batch read in many chunks is scanned once, not once per chunk.
    private var pending: [(start: Int, end: Int, fields: EventLine.Fields)] = []
    /// Where the next call goes on scanning: just after the last line scanned (relative to the buffer the next
    /// call gets, which starts where this call's consumed bytes ended).
    private var resumeAt = 0

    /// Scans `buffer` (whose first byte is at file offset `offset` and is a line start; on a later call, the
    /// bytes the previous call did not consume, followed by more). Returns how many bytes were consumed (up to
    /// the end of the last committed line handed to `body`) and whether `body` asked to stop.
    mutating func scan(
        _ buffer: UnsafeRawBufferPointer, offset: Int64, path: String, _ body: (JournalReader.Line) throws -> Bool
    ) throws -> (consumed: Int, stopped: Bool) {
        guard let base = buffer.baseAddress else { return (0, false) }
        var consumed = 0
        var start = resumeAt
        while start < buffer.count {
            guard let newline = memchr(base + start, 0x0A, buffer.count - start) else { break }
            let end = base.distance(to: UnsafeRawPointer(newline))
            var failure = ""
            guard let fields = EventLine.scan(UnsafeRawBufferPointer(rebasing: buffer[start..<end]), failure: &failure) else {
                throw JournalError.corruptJournal(path: path, line: 0, reason: "at byte \(offset + Int64(start)): \(failure)")
            }
            if fields.more {
                pending.append((start, end, fields))
                start = end + 1
                continue
            }
            // This line commits itself and every pending line before it.
            for line in pending {
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[line.start..<line.end])
                guard try body(JournalReader.Line(bytes: bytes, fields: line.fields, offset: offset + Int64(line.start))) else {
                    pending.removeAll(keepingCapacity: true)
                    return (line.end + 1, true)
                }
            }
            pending.removeAll(keepingCapacity: true)
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            let lineStart = start
            start = end + 1
            consumed = start
            guard try body(JournalReader.Line(bytes: bytes, fields: fields, offset: offset + Int64(lineStart))) else {
                return (consumed, true)
            }
        }
        // The caller drops the consumed bytes from the front: shift what we remember accordingly.
        resumeAt = start - consumed
        if consumed > 0 { pending = pending.map { ($0.start - consumed, $0.end - consumed, $0.fields) } }
        return (consumed, false)
    }
}

/// The byte-level commit rule for code that looks at raw journal bytes without reading line by line (the
/// tailer's publisher, the writer's tail recovery, `tail -n`).
public enum JournalCommit {
    /// The end of the last committed line in `bytes`, searching backwards from the end: just after the `\n` of
    /// the last complete line that has no `"more":true`. `startsAtLineStart` says whether `bytes[0]` begins a
    /// line; when it does not, a line whose start is not in `bytes` cannot be judged and nil is returned for it
    /// (read further back). Nil when no committed line end is found.
    public static func lastCommittedEnd(in bytes: UnsafeRawBufferPointer, startsAtLineStart: Bool) -> Int? {
        guard bytes.baseAddress != nil, !bytes.isEmpty else { return nil }
        var lineEnd = bytes.count  // exclusive index of the '\n' of the line being judged, once found
        guard let last = LineFeedScan.lastLineFeed(in: bytes, before: bytes.count) else { return nil }
        lineEnd = last
        while true {
            let lineStart: Int
            if let previous = LineFeedScan.lastLineFeed(in: bytes, before: lineEnd) {
                lineStart = previous + 1
            } else if startsAtLineStart {
                lineStart = 0
            } else {
                return nil
            }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])
            if !isBatchContinuation(line) { return lineEnd + 1 }
            guard lineStart > 0 else { return nil }
            lineEnd = lineStart - 1
        }
    }

    /// Whether `line` (without `\n`) says more lines of its batch follow. Only the envelope's head is looked
    /// at, so this is cheap; a line that does not scan is treated as committing (readers then report it).
    public static func isBatchContinuation(_ line: UnsafeRawBufferPointer) -> Bool {
        EventLine.scan(line)?.more ?? false
    }
}
