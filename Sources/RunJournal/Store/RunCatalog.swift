#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport

/// Lists runs (newest first, by status, page by page) fast over a large journal directory.
///
/// A run's summary is cached together with the file's signature (inode, size, mtime); listing reads the
/// directory, `stat`s each candidate and re-reads only journals whose signature changed — and then only the
/// bytes appended since (the summary is extended, not recomputed). The cache is persisted to
/// `<dir>/.runs.index` so a fresh process (the CLI) starts warm. The index is derived data: delete it and the
/// next listing rebuilds it from the journals.
public final class RunCatalog: Sendable {
    public let directory: String
    /// The permission bits the persisted index is created with.
    public let indexMode: mode_t
    private let cache: LockedValue<Cache>
    private let logger: Logger
    static let indexFileName = ".runs.index"
    /// Bump when the index line layout changes; an index with another version is ignored and rebuilt.
    static let indexVersion = "runjournal-index 1"

    struct Signature: Equatable {
        var inode: UInt64
        var size: Int64
        var mtimeNanos: Int64
    }

    struct Entry {
        var signature: Signature
        var summary: RunSummary
    }

    struct Cache: ~Copyable {
        var entries: [RunID: Entry] = [:]
        var loaded = false
        var changedSincePersist = 0
        var lastPersistMillis: Int64 = 0
    }

    /// `indexMode`: the permission bits of the index file (it holds every run's metadata, so it gets the
    /// journals' mode).
    public init(directory: String, logger: Logger = Logger(label: "runjournal.catalog"), indexMode: mode_t = FileModes.defaultJournalMode) {
        self.directory = directory
        self.indexMode = indexMode
        self.logger = logger
        self.cache = LockedValue(Cache())
    }

    /// One page of a listing.
    public struct Page: Sendable {
        public var runs: [RunSummary]
        /// Pass back as `cursor` for the next page; nil on the last page.
        public var nextCursor: String?
    }

    /// Runs newest first (by id, which generated ids make creation order), optionally only those with
    /// `status` (or any terminal status with `terminalOnly`), starting after `cursor` (an id from a previous
    /// page: stable however many runs are created meanwhile).
    /// `progress`, when given, is called now and then with (journals looked at, journals in the listing), for
    /// a progress line during a cold scan of a large directory. `including`, when given, keeps only the ids
    /// it accepts (an access token's run pattern); the others are never read.
    public func list(
        status: RunStatus? = nil, statuses: Set<RunStatus>? = nil, limit: Int, after cursor: RunID? = nil,
        including: ((RunID) -> Bool)? = nil,
        persist: Bool = true, progress: ((_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> Page {
        let wanted = statuses ?? status.map { [$0] }
        let allIDs = try runIDs()
        var ids = cursor.map { cursor in allIDs.filter { $0 < cursor } } ?? allIDs
        if let including { ids = ids.filter(including) }
        let dirFD = try asJournalError { try Sys.open(directory, O_RDONLY | O_DIRECTORY) }
        defer { close(dirFD) }
        var page: [RunSummary] = []
        var nextCursor: String?
        try cache.withLock { cache in
            try loadIndexIfNeeded(&cache)
            Self.forgetVanished(&cache, present: allIDs)
            for (index, id) in ids.reversed().enumerated() {
                if let progress, index & 1023 == 0 { progress(index, ids.count) }
                guard let summary = try currentSummary(of: id, dirFD: dirFD, cache: &cache) else { continue }
                if let wanted, !wanted.contains(summary.status) { continue }
                if page.count == limit {
                    nextCursor = page.last?.id.rawValue
                    break
                }
                page.append(summary)
            }
            if persist { persistIfNeeded(&cache, force: false) }
        }
        return Page(runs: page, nextCursor: nextCursor)
    }

    /// Every run's summary (for `stats` and `prune`), refreshing the cache like `list`.
    public func all(progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> [RunSummary] {
        try list(limit: Int.max, persist: true, progress: progress).runs
    }

    /// Drops `ids` from the cache and the persisted index (after their journals were deleted: a listing only
    /// visits journals that exist, so it would never drop them itself).
    public func forget(_ ids: [RunID]) throws {
        try cache.withLock { cache in
            try loadIndexIfNeeded(&cache)
            for id in ids where cache.entries.removeValue(forKey: id) != nil { cache.changedSincePersist += 1 }
        }
    }

    /// Drops cached runs whose journals are gone, however they went (`forget` covers this process's own
    /// prune; another process's prune, or an `rm`, is only seen here), so neither the cache nor the persisted
    /// index keeps them forever. A listing that stops early never visits them, so this goes by the directory
    /// read, and only when there are more cached runs than journals, which is cheap to check.
    static func forgetVanished(_ cache: inout Cache, present: [RunID]) {
        guard cache.entries.count > present.count else { return }
        let existing = Set(present)
        let before = cache.entries.count
        cache.entries = cache.entries.filter { existing.contains($0.key) }
        cache.changedSincePersist += before - cache.entries.count
    }

    /// Writes the index now if anything changed (the CLI calls this before it exits).
    public func flushIndex() {
        cache.withLock { persistIfNeeded(&$0, force: true) }
    }

    /// Valid run ids in the directory, ascending. Anything that is not `<valid-id>.jsonl` is not a run.
    public func runIDs() throws -> [RunID] {
        guard let dir = opendir(directory) else { throw JournalError.io(operation: "opendir", path: directory, errno: errno) }
        defer { closedir(dir) }
        var ids: [RunID] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name.hasSuffix(".jsonl"), let id = try? RunID(String(name.dropLast(6))) else { continue }
            ids.append(id)
        }
        ids.sort()
        return ids
    }

    private func currentSummary(of id: RunID, dirFD: Int32, cache: inout Cache) throws -> RunSummary? {
        var info = stat()
        guard fstatat(dirFD, id.rawValue + ".jsonl", &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT {
                cache.entries[id] = nil
                return nil
            }
            throw JournalError.io(operation: "stat", path: directory + "/" + id.rawValue + ".jsonl", errno: errno)
        }
        if (info.st_mode & S_IFMT) == S_IFLNK {
            // The store never follows a link to a journal (see `Sys.open`): not a run, and not a reason to fail
            // the whole listing.
            logger.warning("ignoring a journal that is a symbolic link", metadata: ["run": "\(id)", "path": "\(directory)/\(id.rawValue).jsonl"])
            cache.entries[id] = nil
            return nil
        }
        let signature = Signature(
            inode: UInt64(info.st_ino), size: Int64(info.st_size),
            mtimeNanos: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
        if let entry = cache.entries[id], entry.signature == signature { return entry.summary }

        // Changed or new: extend the cached summary when the same file only grew, else read it from the start.
        var summary = RunSummary(id: id)
        if let entry = cache.entries[id], entry.signature.inode == signature.inode, entry.summary.byteCount <= signature.size {
            summary = entry.summary
        }
        let journal: OpenJournal
        do {
            journal = try OpenJournal(path: directory + "/" + id.rawValue + ".jsonl", id: id)
        } catch JournalError.runNotFound {
            cache.entries[id] = nil
            return nil
        }
        do {
            try journal.forEachLine(from: summary.byteCount) { line in
                summary.consume(line: line.bytes, fields: line.fields)
                return true
            }
        } catch let error as JournalError {
            // One damaged journal must not break listing the others; verify reports it.
            logger.warning("cannot summarize journal", metadata: ["run": "\(id)", "error": "\(error)"])
            if summary.lastSeq == 0 { return nil }
        }
        if summary.lastSeq == 0 { return nil }  // not even a complete run.created line
        cache.entries[id] = Entry(signature: signature, summary: summary)
        cache.changedSincePersist += 1
        return summary
    }

    // MARK: Persisted index

    private var indexPath: String { directory + "/" + Self.indexFileName }

    private func loadIndexIfNeeded(_ cache: inout Cache) throws {
        guard !cache.loaded else { return }
        cache.loaded = true
        guard let journal = try? OpenJournal(path: indexPath), let size = try? journal.size(), size > 0 else { return }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let count = try bytes.withUnsafeMutableBytes { raw in try asJournalError { try Sys.preadFully(journal.fd, into: raw, at: 0, path: indexPath) } }
        var lines = bytes[..<count].split(separator: 0x0A, omittingEmptySubsequences: true)
        guard let header = lines.first, String(decoding: header, as: UTF8.self) == Self.indexVersion else {
            logger.info("ignoring index with another version; rebuilding it", metadata: ["path": "\(indexPath)"])
            return
        }
        lines.removeFirst()
        cache.entries.reserveCapacity(lines.count)
        for line in lines {
            if let entry = Self.decode(line) { cache.entries[entry.summary.id] = entry }
        }
    }

    private func persistIfNeeded(_ cache: inout Cache, force: Bool) {
        guard cache.changedSincePersist > 0 else { return }
        let now = SystemClock().nowMillis()
        // A server lists often: write at most every 2 s. The CLI forces a write before it exits.
        guard force || now - cache.lastPersistMillis >= 2000 else { return }
        var out = Array((Self.indexVersion + "\n").utf8)
        out.reserveCapacity(cache.entries.count * 200)
        for entry in cache.entries.values { Self.encode(entry, to: &out) }
        let temporary = indexPath + ".tmp-" + ULID.make(millis: now)
        do {
            let fd = try asJournalError { try Sys.createFile(temporary, mode: indexMode) }
            defer { close(fd) }
            try out.withUnsafeBytes { raw in try asJournalError { try Sys.writeAll(fd, raw, path: temporary) } }
            guard rename(temporary, indexPath) == 0 else { throw JournalError.io(operation: "rename", path: indexPath, errno: errno) }
            cache.changedSincePersist = 0
            cache.lastPersistMillis = now
        } catch {
            unlink(temporary)
            // The index is only a cache: failing to write it costs speed, never correctness.
            logger.warning("cannot write run index", metadata: ["path": "\(indexPath)", "error": "\(error)"])
        }
    }

    // One tab-separated line per run; metadata (compact JSON: no raw tab or newline) comes last.
    static func encode(_ entry: Entry, to out: inout [UInt8]) {
        let s = entry.summary
        var fields: [String] = [
            s.id.rawValue, String(entry.signature.inode), String(entry.signature.size), String(entry.signature.mtimeNanos),
            s.status.rawValue, s.stopRequested ? "1" : "0", String(s.stopRequestedAtMillis ?? -1),
            String(s.createdAtMillis), String(s.updatedAtMillis), String(s.lastSeq), s.lastType, String(s.byteCount),
        ]
        var reason: [UInt8] = []
        if let terminalReason = s.terminalReason { JSONWriter.appendEscaped(terminalReason, to: &reason) } else { reason = Array("-".utf8) }
        fields.append(String(decoding: reason, as: UTF8.self))
        out.append(contentsOf: fields.joined(separator: "\t").utf8)
        out.append(0x09)
        out.append(contentsOf: s.metadata)
        out.append(0x0A)
    }

    /// Parses one index line without splitting it into strings: a warm listing of 100,000 runs spends most of
    /// its time here, so fields are read in place and only the text fields become `String`s.
    static func decode(_ line: ArraySlice<UInt8>) -> Entry? {
        var cursor = line.startIndex
        let end = line.endIndex
        func field() -> Range<Int>? {
            guard cursor <= end else { return nil }
            let start = cursor
            while cursor < end, line[cursor] != 0x09 { cursor += 1 }
            defer { cursor += 1 }
            return start..<cursor
        }
        func integer(_ range: Range<Int>?) -> Int64? {
            guard let range, !range.isEmpty else { return nil }
            var index = range.lowerBound
            let negative = line[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            guard index < range.upperBound else { return nil }
            var value: Int64 = 0
            while index < range.upperBound {
                let digit = line[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                let (product, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = product.addingReportingOverflow(Int64(digit))
                guard !overflow1, !overflow2 else { return nil }
                value = sum
                index += 1
            }
            return negative ? -value : value
        }
        func text(_ range: Range<Int>) -> String { String(decoding: line[range], as: UTF8.self) }

        guard let idField = field(), let id = try? RunID(text(idField)),
            let inode = integer(field()), let size = integer(field()), let mtime = integer(field()),
            let statusField = field(), let status = RunStatus(rawValue: text(statusField)),
            let stopField = field(), let stopAt = integer(field()),
            let created = integer(field()), let updated = integer(field()), let lastSeq = integer(field()),
            let lastTypeField = field(), let byteCount = integer(field()), let reasonField = field(),
            cursor <= end
        else { return nil }
        var summary = RunSummary(id: id)
        summary.status = status
        summary.stopRequested = line[stopField].elementsEqual([UInt8(ascii: "1")])
        summary.stopRequestedAtMillis = stopAt >= 0 ? stopAt : nil
        summary.createdAtMillis = created
        summary.updatedAtMillis = updated
        summary.lastSeq = lastSeq
        summary.lastType = text(lastTypeField)
        summary.byteCount = byteCount
        if line[reasonField].first == UInt8(ascii: "\"") {
            summary.terminalReason = try? JSONObjectReader.decodeString(line[reasonField])
        }
        summary.metadata = Array(line[cursor..<end])  // the rest: compact JSON, no tab or newline in it
        return Entry(signature: Signature(inode: UInt64(bitPattern: inode), size: size, mtimeNanos: mtime), summary: summary)
    }
}
