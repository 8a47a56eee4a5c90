#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// Deleting a journal (retention, `runjournal prune`) under the same `flock` appenders take.
///
/// Unlinking without the lock lost acknowledged events: an appender that had already taken the lock and
/// checked the link count could write, sync and acknowledge its line after the unlink, into a file nobody
/// will ever open again. Holding the lock, the deletion waits for such an append to finish, then decides on
/// the journal's state *including* that append; an appender that waits for the lock meanwhile finds the file
/// unlinked when it gets it (link count 0), reopens by path and is told the run does not exist. Either way
/// no append is acknowledged into a deleted journal.
extension JournalStore {
    /// What `deleteIf` did.
    public enum DeleteOutcome: Sendable, Equatable {
        /// Unlinked; the summary it was decided on.
        case deleted(RunSummary)
        /// Kept: `shouldDelete` said no to the journal's current state.
        case kept(RunSummary)
        /// There was no journal (already deleted).
        case notFound
    }

    /// Deletes the journal of `id` if `shouldDelete` agrees with its current state, read under the journal's
    /// `flock` (the appenders' lock), and unlinks it before letting go of the lock.
    public func deleteIf(_ id: RunID, _ shouldDelete: (RunSummary) -> Bool) throws -> DeleteOutcome {
        let path = path(of: id)
        // Two attempts: the path may be replaced (deleted and re-created) between the open and the lock.
        for _ in 0..<2 {
            let journal: OpenJournal
            do {
                journal = try OpenJournal(path: path, id: id)
            } catch JournalError.runNotFound {
                return .notFound
            }
            try asJournalError { try Sys.flock(journal.fd, LOCK_EX, path: path) }
            defer { Sys.unlock(journal.fd) }
            let held = try asJournalError { try Sys.fstat(journal.fd, path: path) }
            guard held.linkCount > 0 else { continue }  // unlinked while we waited: look at the path again
            guard let named = try asJournalError({ try Sys.statIfExists(path) }) else { return .notFound }
            guard named.isSameFile(as: held) else { continue }  // replaced

            var summary = RunSummary(id: id)
            var createKey: String?
            try journal.forEachLine(from: 0) { line in
                summary.consume(line: line.bytes, fields: line.fields)
                if line.seq == 1, let range = line.fields.idempotency {
                    createKey = IdempotencyRecord.parse(UnsafeRawBufferPointer(rebasing: line.bytes[range]))?.key
                }
                return true
            }
            guard shouldDelete(summary) else { return .kept(summary) }
            guard unlink(path) == 0 else {
                if errno == ENOENT { return .notFound }
                throw JournalError.io(operation: "unlink", path: path, errno: errno)
            }
            forget(id)
            // What belonged to the run goes with it: its failure marker, and the binding of its create key.
            unlink(JournalFailure.markerPath(forJournal: path))
            failures.forget(id)
            if let createKey { removeCreateKeyBinding(createKey, to: id) }
            try asJournalError { try Sys.fsyncDirectory(directory) }
            return .deleted(summary)
        }
        return .notFound
    }
}
