#if canImport(Glibc)
import Glibc
#endif
import RunJournal

/// Whether this responder should get traffic, for `GET /readyz`: its journal directory is writable, no journal
/// is failed (a failed journal refuses appends until `runjournal verify --repair`), and it is below its stream
/// cap. Each reason is a short sentence without filesystem paths (they are for logs, not for HTTP bodies).
public struct ReadinessCheck: Sendable {
    private let store: JournalStore
    private let streams: @Sendable () -> (open: Int, limit: Int)

    /// `streams` reports the transport's open streams and its cap (the transport is made after the handler, so
    /// it is asked late).
    public init(store: JournalStore, streams: @escaping @Sendable () -> (open: Int, limit: Int)) {
        self.store = store
        self.streams = streams
    }

    /// Empty when ready.
    public func reasons() -> [String] {
        var reasons: [String] = []
        if access(store.directory, W_OK | X_OK) != 0 {
            reasons.append("the journal directory is not writable (\(String(cString: strerror(errno))))")
        }
        let failed = failedRuns()
        if !failed.isEmpty {
            let shown = failed.prefix(10).map(\.rawValue).joined(separator: ", ")
            reasons.append("\(failed.count) journal(s) failed, until repaired with runjournal verify --repair: \(shown)\(failed.count > 10 ? ", ..." : "")")
        }
        let (open, limit) = streams()
        if open >= limit {
            reasons.append("at the stream cap (\(open) of \(limit) streams open)")
        }
        return reasons
    }

    /// Failed journals: those failed in this process (the store remembers them even when their marker could not
    /// be written) and those with a `<id>.jsonl.failed` marker, a failure of an earlier process. Each is confirmed
    /// with the store, which knows whether a marker still concerns the journal beside it.
    func failedRuns() -> [RunID] {
        var candidates = Set(store.failedRunIDs)
        if let directory = opendir(store.directory) {
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                guard name.hasSuffix(".jsonl.failed"), let id = try? RunID(String(name.dropLast(".jsonl.failed".count))) else { continue }
                candidates.insert(id)
            }
        }
        return candidates.filter(isStillFailed).sorted { $0.rawValue < $1.rawValue }
    }

    /// The store's failure concerns the file at the journal's path now: a repair renames a new file over it,
    /// which an open handle of the old one does not see until its next append.
    private func isStillFailed(_ id: RunID) -> Bool {
        guard let failure = (try? store.failure(of: id)) ?? nil else { return false }
        var info = stat()
        return stat(store.path(of: id), &info) == 0 && UInt64(info.st_ino) == failure.inode
    }
}
