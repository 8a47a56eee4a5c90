import RunJournal

/// The end of a journal as a follower needs it: where its complete lines end and what the last one was,
/// found by reading backwards from the end of the file (a few KiB however large the journal is).
struct JournalTail {
    /// Offset just after the last complete line (0 for a file without one): a valid place to subscribe from.
    var endOffset: Int64 = 0
    var lastSeq: Int64 = 0
    var lastKind: LineKind = .other

    /// Reads the tail of `journal`. A torn last line (no `\n` yet) is ignored, like every reader does.
    static func read(_ journal: OpenJournal) throws -> JournalTail {
        guard let last = try LastCommittedLine.read(fd: journal.fd, size: try journal.size(), path: journal.path) else {
            return JournalTail()
        }
        var tail = JournalTail(endOffset: last.end)
        try last.bytes.withUnsafeBytes { line in
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
