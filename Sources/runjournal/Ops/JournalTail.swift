import RunJournal

#if canImport(Glibc)
import Glibc
#endif

/// The end of a journal as a follower needs it: where its complete lines end and what the last one was,
/// found by reading backwards from the end of the file (a few KiB however large the journal is).
struct JournalTail {
    /// Offset just after the last complete line (0 for a file without one): a valid place to subscribe from.
    var endOffset: Int64 = 0
    var lastSeq: Int64 = 0
    var lastKind: LineKind = .other

    /// Reads the tail of `journal`. A torn last line (no `\n` yet) is ignored, like every reader does.
    static func read(_ journal: OpenJournal) throws -> JournalTail {
        let size = try journal.size()
        var window = 4096
        while true {
            let start = max(0, size - Int64(window))
            var buffer = [UInt8](repeating: 0, count: Int(size - start))
            let count = try buffer.withUnsafeMutableBytes { raw -> Int in
                var filled = 0
                while filled < raw.count {
                    let got = pread(journal.fd, raw.baseAddress! + filled, raw.count - filled, off_t(start) + off_t(filled))
                    if got < 0 {
                        if errno == EINTR { continue }
                        throw JournalError.io(operation: "pread", path: journal.path, errno: errno)
                    }
                    if got == 0 { break }
                    filled += got
                }
                return filled
            }
            // The last committed line: a batch whose last line is not written yet does not count.
            let committedEnd = buffer.withUnsafeBytes { raw in
                JournalCommit.lastCommittedEnd(in: UnsafeRawBufferPointer(rebasing: raw[..<count]), startsAtLineStart: start == 0)
            }
            guard let committedEnd else {
                if start == 0 { return JournalTail() }
                window *= 4
                continue
            }
            let lastNewline = committedEnd - 1
            let lineStart = buffer[..<lastNewline].lastIndex(of: 0x0A).map { $0 + 1 }
            var tail = JournalTail(endOffset: start + Int64(lastNewline) + 1)
            try buffer.withUnsafeBytes { raw in
                let line = UnsafeRawBufferPointer(rebasing: raw[(lineStart ?? 0)..<lastNewline])
                var failure = ""
                guard let fields = EventLine.scan(line, failure: &failure) else {
                    throw JournalError.corruptJournal(path: journal.path, line: 0, reason: "last line: \(failure)")
                }
                tail.lastSeq = fields.seq
                tail.lastKind = LineKind.of(UnsafeRawBufferPointer(rebasing: line[fields.type]))
            }
            return tail
        }
    }
}
