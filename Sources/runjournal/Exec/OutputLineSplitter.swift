/// Cuts a pipe's bytes into lines for `runjournal exec`: at each newline, at end of input (a last line
/// without a newline is still a line), and every `maxLineBytes` within a longer line, so one event never
/// holds more than that. A cut inside a line is made at a UTF-8 character boundary where there is one, so
/// splitting never turns valid text into U+FFFD.
struct OutputLineSplitter {
    /// The longest line kept whole, in bytes (documented in README: 64 KiB).
    static let defaultMaxLineBytes = 64 * 1024

    /// A piece of output: `continued` when the line goes on in the next piece.
    struct Piece: Equatable {
        var bytes: [UInt8]
        var continued: Bool
    }

    let maxLineBytes: Int
    private var pending: [UInt8] = []

    init(maxLineBytes: Int = OutputLineSplitter.defaultMaxLineBytes) {
        self.maxLineBytes = max(4, maxLineBytes)
    }

    /// The complete pieces in `chunk` (with what was pending before it).
    mutating func pieces(in chunk: UnsafeRawBufferPointer) -> [Piece] {
        var out: [Piece] = []
        var start = 0
        for index in 0..<chunk.count where chunk[index] == 0x0A {
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<index]))
            cutLongPrefixes(into: &out)
            var line = pending
            if line.last == 0x0D { line.removeLast() }  // CRLF output reads as the line without its CR
            out.append(Piece(bytes: line, continued: false))
            pending.removeAll(keepingCapacity: true)
            start = index + 1
        }
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start...]))
        cutLongPrefixes(into: &out)
        return out
    }

    /// What is left at end of input: the last line when it had no newline.
    mutating func finish() -> [Piece] {
        defer { pending.removeAll() }
        return pending.isEmpty ? [] : [Piece(bytes: pending, continued: false)]
    }

    /// Moves full-size pieces off the front of `pending` while it is longer than the limit.
    private mutating func cutLongPrefixes(into out: inout [Piece]) {
        while pending.count > maxLineBytes {
            var cut = maxLineBytes
            // Back up over UTF-8 continuation bytes (10xxxxxx), at most 3, to cut between characters.
            var backed = 0
            while backed < 3, cut > 1, pending[cut] & 0xC0 == 0x80 {
                cut -= 1
                backed += 1
            }
            if pending[cut] & 0xC0 == 0x80 { cut = maxLineBytes }  // not UTF-8 text here: cut at the limit
            out.append(Piece(bytes: Array(pending[..<cut]), continued: true))
            pending.removeFirst(cut)
        }
    }
}
