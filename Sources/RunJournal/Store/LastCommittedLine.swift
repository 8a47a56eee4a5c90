import SystemSupport

/// The last committed line of a journal, found by reading backwards from its end: what the writer needs to
/// recover its tail (the next seq, what to truncate) and what `tail`/follow need to start from. One scan for
/// both, so they cannot disagree about where the committed part of a file ends.
public struct LastCommittedLine: Sendable {
    /// Offset just after the line's '\n': where the committed part of the file ends.
    public let end: Int64
    /// The line, without its '\n'.
    public let bytes: [UInt8]

    /// Reads the end of the first `size` bytes of `fd` in a growing window (`firstWindow` bytes, then four
    /// times as many each round) until the window holds a committed line and its start: a few KiB however
    /// large the journal. Nil when the file holds no committed line.
    public static func read(fd: Int32, size: Int64, path: String, firstWindow: Int64 = 4096) throws -> LastCommittedLine? {
        var window = min(size, firstWindow)
        while true {
            let start = size - window
            var buffer = [UInt8](repeating: 0, count: Int(window))
            let count = try buffer.withUnsafeMutableBytes { raw in
                try asJournalError { try Sys.preadFully(fd, into: raw, at: start, path: path) }
            }
            guard count == buffer.count else {
                throw JournalError.corruptJournal(path: path, line: 0, reason: "file shrank while being read")
            }
            let committedEnd = buffer.withUnsafeBytes { raw in
                JournalCommit.lastCommittedEnd(in: raw, startsAtLineStart: start == 0)
            }
            guard let committedEnd else {
                if start == 0 { return nil }
                window = min(size, window * 4)
                continue
            }
            let lastNewline = committedEnd - 1
            let lineStart = LineFeedScan.lastLineFeed(in: buffer[..<lastNewline]).map { $0 + 1 } ?? 0
            return LastCommittedLine(end: start + Int64(committedEnd), bytes: Array(buffer[lineStart..<lastNewline]))
        }
    }
}
