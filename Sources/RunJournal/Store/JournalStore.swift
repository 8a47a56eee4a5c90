#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import SystemSupport

/// The journal directory: one append-only JSONL file per run, `<directory>/<run-id>.jsonl`.
///
/// This is the only code that writes journals. It creates them atomically, appends under `flock` (so any
/// number of processes may append to one run), syncs per the `FsyncPolicy`, and keeps per-run state cached
/// so an append never re-reads the file and a summary is never recomputed from scratch. Safe to use from
/// many threads.
public final class JournalStore: Sendable {
    public let directory: String
    public let fsyncPolicy: FsyncPolicy
    private let appendObserver = LockedValue<(any JournalAppendObserver)?>(nil)
    public let clock: any WallClock
    /// The permission bits of the journals and directories this store creates.
    public let fileModes: FileModes
    let logger: Logger
    /// Open journals, most recently used last. Bounded: every entry holds a file descriptor. Every request
    /// for a run looks here, from many worker threads at once: guarded by a plain pthread mutex, because
    /// `Synchronization.Mutex` spins and then takes a priority-inheritance futex when contended, which
    /// cost 29 % of the responder's CPU with 64 concurrent GETs.
    private nonisolated(unsafe) var openFiles = OpenFileCache()
    private let openFilesLock = ConditionLock()
    private let maxOpenFiles: Int
    private let flusher: IntervalFlusher?
    let io: JournalIO
    /// Failed journals of this directory, kept for the store's life (see `JournalFailure`).
    let failures = FailedJournals()

    /// Opens (without creating) the journal directory. Throws when it does not exist or is not a directory.
    /// `faults` is the test seam that makes writes and syncs fail like a failing disk.
    public init(
        directory: String, fsyncPolicy: FsyncPolicy = .always, clock: any WallClock = SystemClock(),
        maxOpenFiles: Int = 256, logger: Logger = Logger(label: "runjournal.store"), faults: StoreFaults = StoreFaults(),
        fileModes: FileModes = FileModes()
    ) throws {
        var info = stat()
        guard stat(directory, &info) == 0 else { throw JournalError.io(operation: "open journal directory", path: directory, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw JournalError.io(operation: "open journal directory", path: directory, errno: ENOTDIR) }
        self.directory = directory
        self.fsyncPolicy = fsyncPolicy
        self.clock = clock
        self.fileModes = fileModes
        self.maxOpenFiles = max(1, maxOpenFiles)
        self.logger = logger
        self.io = JournalIO(faults: faults)
        if case .interval(let ms) = fsyncPolicy {
            flusher = IntervalFlusher(intervalMillis: ms, logger: logger)
        } else {
            flusher = nil
        }
    }

    deinit {
        flusher?.close()
    }

    /// The journal file of `id`. Ids are validated by construction, so this can never leave the directory.
    public func path(of id: RunID) -> String { directory + "/" + id.rawValue + ".jsonl" }

    // MARK: Create

    /// Creates a run: writes its `run.created` line to a temporary file, syncs it, and links it into place
    /// without replacing anything, so a reader never sees an empty or half-made journal. `metadata` must be
    /// a JSON object (any whitespace; it is validated and compacted). Throws `runExists` for a taken id.
    @discardableResult
    public func create(id: RunID? = nil, metadata: [UInt8]? = nil) throws -> RunSummary {
        try create(id: id, metadata: metadata, idempotency: nil).summary
    }

    /// What a create answered: the new run, or (`replayed`) the run an earlier request with the same
    /// idempotency key created, as it was when created.
    public struct CreateResult: Sendable {
        public var summary: RunSummary
        public var replayed: Bool
    }

    /// Creates a run, recording `idempotency` on its `run.created` line. A retry with the same key and request
    /// answers the run the first request created (`replayed`), without creating anything; the same key with
    /// another request is `idempotencyKeyReused`. Without an id, the key is first bound to a freshly generated
    /// id by a symlink in `.create-keys/` (atomic, crash-safe: a retry after a crash between the two steps
    /// finds the id and creates the run then), so retries reach the same run.
    public func create(id: RunID?, metadata: [UInt8]?, idempotency: IdempotencyRecord?) throws -> CreateResult {
        try create(id: id, generatedIDPrefix: RunID.standardPrefix, metadata: metadata, idempotency: idempotency)
    }

    /// `create`, naming a run created without an id `generatedIDPrefix` + ULID (see `RunID.generate`). Keys
    /// of creates with another prefix than the standard one are bound in their own namespace, so the same
    /// Idempotency-Key sent under two prefixes never reaches the other prefix's run.
    public func create(
        id: RunID?, generatedIDPrefix: String, metadata: [UInt8]?, idempotency: IdempotencyRecord?
    ) throws -> CreateResult {
        let millis = clock.nowMillis()
        var compactMetadata = Array("{}".utf8)
        if let metadata {
            compactMetadata = try JSONCompactor.compact(metadata)
            guard compactMetadata.first == UInt8(ascii: "{") else {
                throw JournalError.invalidJSON(offset: -1, reason: "metadata must be a JSON object")
            }
        }
        var record = idempotency
        record?.firstSeq = 1
        var runID: RunID
        if let id {
            runID = id
        } else if let record {
            runID = try boundRunID(forCreateKey: record.key, prefix: generatedIDPrefix, millis: millis)
        } else {
            runID = RunID.generate(at: millis, prefix: generatedIDPrefix)
        }
        do {
            return CreateResult(summary: try createJournal(runID, millis: millis, metadata: compactMetadata, record: record), replayed: false)
        } catch JournalError.runExists(let existing) {
            guard let record else { throw JournalError.runExists(existing) }
            return try replayCreate(existing, record: record)
        }
    }

    private func createJournal(_ id: RunID, millis: Int64, metadata: [UInt8], record: IdempotencyRecord?) throws -> RunSummary {
        var data = JSONWriter()
        data.object { $0.key("metadata"); $0.raw(metadata) }
        var line = [UInt8]()
        EventLine.append(seq: 1, millis: millis, type: .created, compactData: data.bytes, idempotency: record, to: &line)

        // The temporary name starts with '.', which no run id can, and does not end in .jsonl.
        let temporary = directory + "/.create-" + ULID.make(millis: millis) + ".tmp"
        let fd = try asJournalError { try Sys.createFile(temporary, mode: fileModes.journal) }
        do {
            defer { close(fd) }
            try line.withUnsafeBytes { buffer throws in try io.writeAll(fd, buffer, path: temporary) }
            try io.fdatasync(fd, path: temporary)
        } catch {
            unlink(temporary)
            throw error
        }
        let finalPath = path(of: id)
        let linkErrno = io.link(temporary, finalPath)
        unlink(temporary)
        guard linkErrno == 0 else {
            if linkErrno == EEXIST { throw JournalError.runExists(id) }
            throw JournalError.io(operation: "link", path: finalPath, errno: linkErrno)
        }
        do {
            try io.fsyncDirectory(directory)
        } catch {
            // The journal is in the directory, but its name may not survive a reboot: the run is failed until
            // repaired (a repair rewrites it and syncs the directory), and this create is not acknowledged.
            if let file = try? handle(for: id, reopen: true) {
                throw file.markFailed(operation: "fsync", errno: JournalFile.errno(of: error))
            }
            throw error
        }

        io.metrics.runsCreated.increment()

        var summary = RunSummary(id: id)
        try line.withUnsafeBytes { raw in
            try JournalReader.forEachLine(in: raw, offset: 0, path: finalPath) { line in
                summary.consume(line: line.bytes, fields: line.fields)
                return true
            }
        }
        return summary
    }

    /// A keyed create found its run already there: the same request is answered with the run as it was
    /// created; another request with this key is refused; a run created without this key is `runExists`.
    private func replayCreate(_ id: RunID, record: IdempotencyRecord) throws -> CreateResult {
        let file = try handle(for: id, reopen: true)
        if let failure = file.currentFailure { throw JournalError.journalFailed(id, operation: failure.operation, errno: failure.errno) }
        let journal = try OpenJournal(path: path(of: id), id: id)
        var summary = RunSummary(id: id)
        var existing: IdempotencyRecord?
        try journal.forEachLine(from: 0) { line in
            summary.consume(line: line.bytes, fields: line.fields)
            existing = line.fields.idempotency.flatMap { IdempotencyRecord.parse(UnsafeRawBufferPointer(rebasing: line.bytes[$0])) }
            return false
        }
        guard let existing, existing.key == record.key else { throw JournalError.runExists(id) }
        guard existing.request == record.request else { throw JournalError.idempotencyKeyReused(id, key: record.key) }
        // The original create may not have reached its directory sync yet: make the name durable first.
        try io.fsyncDirectory(directory)
        return CreateResult(summary: summary, replayed: true)
    }

    private var createKeysDirectory: String { directory + "/.create-keys" }

    private func createKeyLink(_ key: String) -> String {
        createKeysDirectory + "/" + IdempotencyRecord.fingerprint(Array(key.utf8))
    }

    /// The binding name of `key` for creates whose generated ids start with `prefix`.
    private func createKeyLink(_ key: String, prefix: String) -> String {
        createKeyLink(prefix == RunID.standardPrefix ? key : prefix + "\n" + key)
    }

    /// Removes the binding of `key` if it still names `id` (the run is being deleted). A generated id with
    /// another prefix than the standard one was bound under that prefix (the id minus its ULID).
    func removeCreateKeyBinding(_ key: String, to id: RunID) {
        var links = [createKeyLink(key)]
        let raw = id.rawValue
        if raw.utf8.count > RunID.generatedSuffixLength && !raw.hasPrefix(RunID.standardPrefix) {
            links.append(createKeyLink(key, prefix: String(raw.dropLast(RunID.generatedSuffixLength))))
        }
        for link in links {
            var target = [CChar](repeating: 0, count: 128)
            let count = readlink(link, &target, target.count - 1)
            guard count > 0, String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) == raw else { continue }
            unlink(link)
        }
    }

    /// The run id a create key is bound to, binding it to a new id when the key is new.
    private func boundRunID(forCreateKey key: String, prefix: String, millis: Int64) throws -> RunID {
        let keys = createKeysDirectory
        try asJournalError { try Sys.createDirectory(keys, mode: fileModes.directory) }
        // The standard prefix keeps the binding name it always had (existing bindings stay valid).
        let link = createKeyLink(key, prefix: prefix)
        for _ in 0..<3 {
            var target = [CChar](repeating: 0, count: 128)
            let count = readlink(link, &target, target.count - 1)
            if count > 0 {
                return try RunID(String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            guard errno == ENOENT else { throw JournalError.io(operation: "readlink", path: link, errno: errno) }
            let candidate = RunID.generate(at: millis, prefix: prefix)
            if symlink(candidate.rawValue, link) == 0 {
                try io.fsyncDirectory(keys)
                return candidate
            }
            guard errno == EEXIST else { throw JournalError.io(operation: "symlink", path: link, errno: errno) }
            // Another request with this key bound it first: read its id.
        }
        throw JournalError.io(operation: "symlink", path: link, errno: EAGAIN)
    }

    // MARK: Append

    /// Who is told about this process's appends (the tailer of `serve`); at most one, set before serving.
    public func observeAppends(_ observer: any JournalAppendObserver) {
        appendObserver.withLock { $0 = observer }
    }

    /// Appends a batch of events as one `write(2)` and returns their seqs. The batch is refused whole when it
    /// is empty, holds `run.created` or `run.stop_requested` (reserved for create and stop), or has anything
    /// after a terminal event; `runTerminal` when the run already ended.
    @discardableResult
    public func append(_ id: RunID, _ events: [NewEvent]) throws -> ClosedRange<Int64> {
        try append(id, events, conditions: AppendConditions()).seqs
    }

    /// What an append answered: the batch's seqs, and whether it was a retry of a keyed batch already in the
    /// journal (`replayed`: nothing was appended).
    public struct AppendResult: Sendable, Equatable {
        public var seqs: ClosedRange<Int64>
        public var replayed: Bool
    }

    /// Appends a batch under `conditions` (idempotency key, expected last seq), checked under the journal lock.
    public func append(_ id: RunID, _ events: [NewEvent], conditions: AppendConditions) throws -> AppendResult {
        let start = ConditionLock.monotonicNanos()
        defer { io.metrics.appendDuration.recordNanoseconds(Int64(ConditionLock.monotonicNanos() &- start)) }
        try Self.validateBatch(events)
        return try appendValidated(id, needsSummary: false, conditions: conditions) { _, _, _ in events }!
    }

    /// Appends `run.stop_requested` unless one exists. Returns the run's summary after the request.
    /// `runTerminal` when the run already ended (stop is then meaningless).
    @discardableResult
    public func requestStop(_ id: RunID) throws -> RunSummary {
        _ = try appendValidated(id, needsSummary: true, conditions: AppendConditions()) { summary, _, _ in
            summary!.stopRequested ? nil : [NewEvent(type: .stopRequested, compactData: Array("{}".utf8))]
        }
        return try summary(of: id)
    }

    /// The seam for server-side decisions that must not race appends: `decide` runs under the journal's locks
    /// with the run's current summary and returns the events to append, or nil. The idle watchdog and stop
    /// grace use it, so several responders on one directory never double-append. Returns the seqs appended,
    /// or nil when `decide` declined or the run has already ended.
    @discardableResult
    public func appendIf(
        _ id: RunID, _ decide: (RunSummary) -> [NewEvent]?
    ) throws -> ClosedRange<Int64>? {
        do {
            return try appendValidated(id, needsSummary: true, conditions: AppendConditions()) { (summary, _, _) throws -> [NewEvent]? in
                guard let events = decide(summary!) else { return nil }
                try Self.validateBatch(events, allowStopRequest: true)
                return events
            }?.seqs
        } catch JournalError.runTerminal {
            return nil
        }
    }

    static func validateBatch(_ events: [NewEvent], allowStopRequest: Bool = false) throws {
        guard !events.isEmpty else { throw JournalError.invalidBatch("a batch needs at least one event") }
        for (index, event) in events.enumerated() {
            if event.type == .created || (event.type == .stopRequested && !allowStopRequest) {
                throw JournalError.reservedEventType(event.type)
            }
            if event.type.isTerminal && index != events.count - 1 {
                throw JournalError.invalidBatch("event \(index + 1) (\(event.type)) is terminal but \(events.count - index - 1) more follow it")
            }
        }
    }

    private func appendValidated(
        _ id: RunID, needsSummary: Bool, conditions: AppendConditions,
        _ decide: (RunSummary?, Int64, EventType) throws -> [NewEvent]?
    ) throws -> AppendResult? {
        // At most two attempts: the cached handle may point at a journal that was pruned (and maybe recreated).
        for attempt in 0..<2 {
            let file = try handle(for: id, reopen: attempt > 0)
            guard let result = try file.append(needsSummary: needsSummary, conditions: conditions, decide: decide) else {
                return nil
            }
            let seqs: ClosedRange<Int64>
            let replayed: Bool
            switch result.outcome {
            case .stale:
                continue
            case .appended(let appended):
                (seqs, replayed) = (appended, false)
                io.metrics.eventsAppended.increment(by: appended.count)
            case .replayed(let original):
                (seqs, replayed) = (original, true)
            }
            switch fsyncPolicy {
            case .always: try file.sync(upTo: result.generation)
            case .interval: if !replayed { flusher?.markDirty(file) }
            case .never: break
            }
            if !replayed, let observer = appendObserver.withLock({ $0 }) {
                let (end, durableEnd) = file.publicationState
                observer.journalGrew(path: file.path, inode: file.inode, end: end, durableEnd: fsyncPolicy == .always ? durableEnd : nil)
            }
            return AppendResult(seqs: seqs, replayed: replayed)
        }
        throw JournalError.runNotFound(id)
    }

    // MARK: Failure

    /// The journal's failure, if it is failed (in this process, or in another that left its marker).
    public func failure(of id: RunID) throws -> JournalFailure? {
        try handle(for: id, reopen: false).currentFailure
    }

    /// How much of the journal a reader may show, for a reader that opened `journal`: its size now, after an
    /// `fdatasync` when the policy is `always` (durable before visible: size first, then sync, so a line
    /// appended in between is not shown before it is on disk). A failed journal shows only what its last good
    /// sync covered, and `failed` is set. A failing sync fails the journal and throws `journalFailed`.
    public func visibleSize(of journal: OpenJournal, id: RunID, sync: Bool = true) throws -> (size: Int64, failed: Bool) {
        let info = try asJournalError { try Sys.fstat(journal.fd, path: journal.path) }
        let size = info.size
        let inode = info.inode
        let file = try handle(for: id, reopen: false)
        if file.inode == inode, let failure = file.currentFailure { return (min(size, failure.durableSize), true) }
        if let failure = failures.failure(of: id, inode: inode) { return (min(size, failure.durableSize), true) }
        // Failed by another process (a CLI writer, another responder): only its marker says so, and a sync here
        // would "succeed" (Linux reports a writeback error once).
        if let marked = JournalFailure.marker(forJournal: journal.path, inode: inode) {
            return (min(size, marked.durableSize), true)
        }
        if sync && fsyncPolicy == .always {
            do {
                try io.fdatasync(journal.fd, path: journal.path)
            } catch {
                let code = JournalFile.errno(of: error)
                if file.inode == inode { throw file.markFailed(operation: "fdatasync", errno: code) }
                throw JournalError.journalFailed(id, operation: "fdatasync", errno: code)
            }
        }
        return (size, false)
    }

    // MARK: Read

    /// The run's summary, kept current incrementally (the first call per journal scans it once).
    public func summary(of id: RunID) throws -> RunSummary {
        for attempt in 0..<2 {
            let file = try handle(for: id, reopen: attempt > 0)
            if let summary = try file.currentSummary() { return summary }  // nil: pruned, reopen by path
        }
        throw JournalError.runNotFound(id)
    }

    /// Whether the run's journal exists.
    public func exists(_ id: RunID) -> Bool {
        access(path(of: id), F_OK) == 0
    }

    /// Opens a reader on the run's journal. The returned `JournalSnapshotReader` owns its own descriptor and
    /// sees the file as it grows.
    public func openReader(_ id: RunID) throws -> OpenJournal {
        try OpenJournal(path: path(of: id), id: id)
    }

    // MARK: Handles

    func handle(for id: RunID, reopen: Bool) throws -> JournalFile {
        if !reopen, let cached = openFilesLock.withLock({ openFiles.get(id) }) { return cached }
        let file = try JournalFile(
            id: id, path: path(of: id), io: io, failures: failures, clock: clock, logger: logger,
            syncOnOpen: fsyncPolicy == .always)
        openFilesLock.withLock { openFiles.put(file, limit: maxOpenFiles) }
        return file
    }

    /// Drops the cached handle of `id` (after it was deleted or repaired outside the append path).
    public func forget(_ id: RunID) {
        openFilesLock.withLock { openFiles.remove(id) }
    }
}

/// A tiny LRU of open journals keyed by run id.
struct OpenFileCache: ~Copyable {
    private var files: [RunID: (file: JournalFile, tick: UInt64)] = [:]
    private var tick: UInt64 = 0

    mutating func get(_ id: RunID) -> JournalFile? {
        // One hash lookup per append: find the entry once and touch it in place.
        guard let index = files.index(forKey: id) else { return nil }
        tick += 1
        files.values[index].tick = tick
        return files.values[index].file
    }

    mutating func put(_ file: JournalFile, limit: Int) {
        tick += 1
        files[file.id] = (file, tick)
        if files.count > limit {
            // Evict the least recently used eighth at once so eviction cost is amortized.
            let victims = files.sorted { $0.value.tick < $1.value.tick }.prefix(max(1, limit / 8))
            for victim in victims { files[victim.key] = nil }
        }
    }

    mutating func remove(_ id: RunID) { files[id] = nil }
}

/// Syncs journals written under `fsync=interval:<ms>` at most every `ms` milliseconds, on its own thread.
final class IntervalFlusher: @unchecked Sendable {
    private let intervalMillis: Int
    private let logger: Logger
    private let state = ConditionLock()
    private var dirty: [ObjectIdentifier: JournalFile] = [:]
    private var started = false
    private var closed = false

    init(intervalMillis: Int, logger: Logger) {
        self.intervalMillis = intervalMillis
        self.logger = logger
    }

    func markDirty(_ file: JournalFile) {
        let needsStart = state.withLock { () -> Bool in
            dirty[ObjectIdentifier(file)] = file
            defer { started = true }
            return !started
        }
        if needsStart {
            do {
                try startDetachedThread(name: "rj-fsync-interval") { [self] in run() }
            } catch {
                // No flusher thread (the process is at its thread limit): sync what is dirty now, on the
                // appender's thread, as fsync=always would; the next append tries to start the flusher again.
                logger.error("cannot start the interval flusher; syncing on the appending thread", metadata: ["error": "\(error)"])
                let batch: [JournalFile] = state.withLock {
                    started = false
                    defer { dirty.removeAll(keepingCapacity: true) }
                    return Array(dirty.values)
                }
                syncAll(batch)
            }
        }
    }

    /// Syncs what is dirty every interval; exits once an interval passes with nothing written (the next
    /// `markDirty` starts it again), so an idle store holds no thread.
    private func run() {
        while true {
            let deadline = ConditionLock.monotonicNanos() + UInt64(intervalMillis) * 1_000_000
            let batch: [JournalFile] = state.withLock {
                while ConditionLock.monotonicNanos() < deadline, !closed { state.wait(untilMonotonicNanos: deadline) }
                defer { dirty.removeAll(keepingCapacity: true) }
                if dirty.isEmpty { started = false }
                return Array(dirty.values)
            }
            if batch.isEmpty { return }
            syncAll(batch)
        }
    }

    /// Syncs everything still dirty now (the store is going away).
    func close() {
        let batch: [JournalFile] = state.withLock {
            closed = true
            state.broadcast()
            defer { dirty.removeAll() }
            return Array(dirty.values)
        }
        syncAll(batch)
    }

    private func syncAll(_ batch: [JournalFile]) {
        for file in batch {
            // A failure fails the journal, which logs it once with the run id.
            try? file.syncIfDirty()
        }
    }
}
