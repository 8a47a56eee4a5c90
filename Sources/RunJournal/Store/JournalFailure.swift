#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport

/// Why a journal is *failed*, and how much of it is known to be on disk.
///
/// After a failed `write` or `fdatasync` the kernel may already have dropped the dirty pages it could not write
/// back, and on Linux a second `fdatasync` returns 0 although they never reached the disk (PostgreSQL's
/// "fsyncgate"). So a sync is never retried to clear an error: the journal is failed, every append waiting on
/// that sync and every later one is refused, and only `runjournal verify --repair`, which rewrites the journal
/// into a new file from what is still readable and syncs that, makes it appendable again.
///
/// The state is kept in memory by the store (for every journal of the directory, never evicted) and in a marker
/// file `<id>.jsonl.failed` beside the journal, so a restarted responder or a CLI writer in another process does
/// not resume appending after lines that may never have reached the disk.
public struct JournalFailure: Sendable, Equatable {
    /// The call that failed (`write`, `fdatasync`, `ftruncate`, `fsync`).
    public var operation: String
    public var errno: Int32
    /// The journal's size at its last successful sync: what a reboot is known to find.
    public var durableSize: Int64
    /// The failed file's inode: a repaired journal is a new file, which the marker no longer concerns.
    public var inode: UInt64

    public init(operation: String, errno: Int32, durableSize: Int64, inode: UInt64) {
        self.operation = operation
        self.errno = errno
        self.durableSize = durableSize
        self.inode = inode
    }

    /// The marker file of the journal at `journalPath`.
    public static func markerPath(forJournal journalPath: String) -> String { journalPath + ".failed" }

    /// One JSON line: `{"operation":"fdatasync","errno":5,"error":"…","durable_size":N,"inode":I,"at":"…"}`.
    func markerBytes(at millis: Int64) -> [UInt8] {
        var writer = JSONWriter()
        writer.object {
            $0.key("operation"); $0.string(operation)
            $0.key("errno"); $0.int(Int64(errno))
            $0.key("error"); $0.string(String(cString: strerror(errno)))
            $0.key("durable_size"); $0.int(durableSize)
            $0.key("inode"); $0.int(Int64(bitPattern: inode))
            $0.key("at"); $0.string(Timestamp.format(millis: millis))
        }
        return writer.bytes + [0x0A]
    }

    /// Writes the marker (best effort: on a failing disk even this may fail, which is logged; the store's
    /// in-memory state still refuses appends in this process).
    /// The marker gets the journal's own permission bits (`mode`): it is as readable as what it marks.
    func writeMarker(forJournal journalPath: String, mode: mode_t, millis: Int64, logger: Logger) {
        let path = Self.markerPath(forJournal: journalPath)
        let bytes = markerBytes(at: millis)
        do {
            let fd = try asJournalError { try Sys.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: mode) }
            defer { close(fd) }
            _ = fchmod(fd, mode)
            try bytes.withUnsafeBytes { raw in try asJournalError { try Sys.writeAll(fd, raw, path: path) } }
            try asJournalError { try Sys.fdatasync(fd, path: path) }
        } catch {
            logger.error("cannot write the failed-journal marker", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    /// The marker's failure if it concerns the file with `inode` (a marker left beside a journal that was since
    /// repaired or re-created names another inode; one whose inode could not be written concerns any).
    static func marker(forJournal journalPath: String, inode: UInt64) -> JournalFailure? {
        guard var marked = readMarker(forJournal: journalPath), marked.inode == 0 || marked.inode == inode else { return nil }
        marked.inode = inode
        return marked
    }

    /// Reads the marker of the journal at `journalPath`; nil when there is none. A marker that cannot be parsed
    /// (written partly on a failing disk) still marks the journal failed, with nothing known durable.
    static func readMarker(forJournal journalPath: String) -> JournalFailure? {
        let path = markerPath(forJournal: journalPath)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = (try? buffer.withUnsafeMutableBytes { raw in try asJournalError { try Sys.preadFully(fd, into: raw, at: 0, path: path) } }) ?? 0
        var failure = JournalFailure(operation: "unknown", errno: EIO, durableSize: 0, inode: 0)
        guard let members = try? JSONObjectReader.members(of: buffer[..<count].split(separator: 0x0A).first ?? []) else {
            return failure
        }
        for member in members {
            let text = String(decoding: member.value, as: UTF8.self)
            switch member.key {
            case "operation": failure.operation = (try? JSONObjectReader.decodeString(member.value)) ?? "unknown"
            case "errno": failure.errno = Int32(text) ?? EIO
            case "durable_size": failure.durableSize = Int64(text) ?? 0
            case "inode": failure.inode = UInt64(bitPattern: Int64(text) ?? 0)
            default: break
            }
        }
        return failure
    }
}

/// Every failed journal of one store, by run id: consulted when a journal is (re)opened, so evicting an open
/// handle from the cache can never forget a failure. Entries carry the inode, so a repaired or re-created
/// journal (a new file) is not refused.
final class FailedJournals: Sendable {
    private let lock = ConditionLock()
    private nonisolated(unsafe) var failures: [RunID: JournalFailure] = [:]

    func failure(of id: RunID, inode: UInt64) -> JournalFailure? {
        lock.withLock { failures[id].flatMap { $0.inode == inode ? $0 : nil } }
    }

    func record(_ failure: JournalFailure, for id: RunID) {
        lock.withLock { failures[id] = failure }
    }

    func forget(_ id: RunID) {
        lock.withLock { failures[id] = nil }
    }

    /// Every run with a recorded failure (each may since have been repaired: a new inode).
    var runIDs: [RunID] { lock.withLock { Array(failures.keys) } }
}
