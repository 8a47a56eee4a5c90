#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// A read-only handle on one journal, owning its descriptor: for replaying a run (the SSE stream, `tail`,
/// `replay`) without touching the store's append handles. Keeps reading the same inode even if the journal
/// is deleted meanwhile, so a reader always finishes what it started.
public final class OpenJournal: @unchecked Sendable {
    public let path: String
    public let id: RunID?
    public let fd: Int32

    /// Opens `path` for reading; `runNotFound` (when `id` is given) or `io` when it does not exist.
    public init(path: String, id: RunID? = nil) throws {
        do {
            fd = try asJournalError { try Sys.open(path, O_RDONLY) }
        } catch {
            if case JournalError.io(_, _, let code)? = error as? JournalError, code == ENOENT, let id { throw JournalError.runNotFound(id) }
            throw error
        }
        self.path = path
        self.id = id
    }

    deinit { close(fd) }

    public var reader: JournalReader { JournalReader(fd: fd, path: path) }

    /// The file's current size in bytes.
    public func size() throws -> Int64 { try asJournalError { try Sys.fstat(fd, path: path) }.size }

    /// The inode number, to notice replacement.
    public func inode() throws -> UInt64 { try asJournalError { try Sys.fstat(fd, path: path) }.inode }

    /// See `JournalReader.forEachLine(from:_:)`.
    @discardableResult
    public func forEachLine(
        from offset: Int64, limit: Int64 = .max, _ body: (JournalReader.Line) throws -> Bool
    ) throws -> Int64 {
        try reader.forEachLine(from: offset, limit: limit, body)
    }

    /// The offset of the first line with seq > `seq`.
    public func offset(afterSeq seq: Int64) throws -> Int64 {
        try reader.offset(afterSeq: seq, fileSize: try size())
    }
}
