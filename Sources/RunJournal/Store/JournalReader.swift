#if canImport(Glibc)
import Glibc
#endif

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

    /// Calls `body` for each complete line in `buffer`, whose first byte is at file offset `offset` (bytes
    /// after the last `\n` are ignored). Throws `corruptJournal` for a line that is not a valid envelope.
    /// For bytes already in memory: what the tailer published, or what this process just wrote.
    public static func forEachLine(
        in buffer: UnsafeRawBufferPointer, offset: Int64, path: String, _ body: (Line) throws -> Bool
    ) throws {
        var start = 0
        while start < buffer.count {
            guard let newline = memchr(buffer.baseAddress! + start, 0x0A, buffer.count - start) else { return }
            let end = buffer.baseAddress!.distance(to: UnsafeRawPointer(newline))
            let lineBytes = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            var failure = ""
            guard let fields = EventLine.scan(lineBytes, failure: &failure) else {
                throw JournalError.corruptJournal(path: path, line: 0, reason: "at byte \(offset + Int64(start)): \(failure)")
            }
            guard try body(Line(bytes: lineBytes, fields: fields, offset: offset + Int64(start))) else { return }
            start = end + 1
        }
    }

    /// Calls `body` for each complete line at or after `offset` (which must be a line start) until the end
    /// of the file or until `body` returns false. Returns the offset after the last line consumed.
    @discardableResult
    public func forEachLine(
        from offset: Int64, _ body: (Line) throws -> Bool
    ) throws -> Int64 {
        // Uninitialized: `pread` fills what is used, and zero-filling 256 KiB per call showed up in profiles.
        var buffer = [UInt8](unsafeUninitializedCapacity: chunkSize) { _, initialized in initialized = chunkSize }
        var fileOffset = offset  // offset of buffer[0]
        var filled = 0
        while true {
            if filled == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
            let count = try buffer.withUnsafeMutableBytes { raw throws -> Int in
                try Sys.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]), at: fileOffset + Int64(filled), path: path)
            }
            if count == 0 { return fileOffset }
            filled += count
            var consumed = 0
            var stop = false
            try buffer.withUnsafeBytes { raw throws in
                while consumed < filled, !stop {
                    guard let newline = memchr(raw.baseAddress! + consumed, 0x0A, filled - consumed) else { break }
                    let end = raw.baseAddress!.distance(to: UnsafeRawPointer(newline))
                    let lineBytes = UnsafeRawBufferPointer(rebasing: raw[consumed..<end])
                    var failure = ""
                    guard let fields = EventLine.scan(lineBytes, failure: &failure) else {
                        throw JournalError.corruptJournal(path: path, line: 0, reason: "at byte \(fileOffset + Int64(consumed)): \(failure)")
                    }
                    let line = Line(bytes: lineBytes, fields: fields, offset: fileOffset + Int64(consumed))
                    if try !body(line) { stop = true }
                    consumed = end + 1
                }
            }
            if stop { return fileOffset + Int64(consumed) }
            if consumed > 0 {
                // Move the partial line (if any) to the front and read on after it.
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
                let count = try buffer.withUnsafeMutableBytes { raw throws in try Sys.pread(fd, into: raw, at: probe, path: path) }
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
