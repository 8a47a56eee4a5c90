#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// The journal directory: one append-only JSONL file per run, `<directory>/<run-id>.jsonl`.
///
/// This is the only code that writes journals. It creates them atomically, appends under `flock` (so any
/// number of processes may append to one run), syncs per the `FsyncPolicy`, and keeps per-run state cached
/// so an append never re-reads the file and a summary is never recomputed from scratch. Safe to use from
/// many threads.
public final class JournalStore: Sendable {
    public let directory: String
    public let fsyncPolicy: FsyncPolicy
    public let clock: any WallClock
    let logger: Logger
    /// Open journals, most recently used last. Bounded: every entry holds a file descriptor. Every request
    /// for a run looks here, from many worker threads at once: guarded by a plain pthread mutex, because
    /// `Synchronization.Mutex` spins and then takes a priority-inheritance futex when contended, which
    /// cost 29 % of the responder's CPU with 64 concurrent GETs.
    private nonisolated(unsafe) var openFiles = OpenFileCache()
    private let openFilesLock = ConditionLock()
    private let maxOpenFiles: Int
    private let flusher: IntervalFlusher?

    /// Opens (without creating) the journal directory. Throws when it does not exist or is not a directory.
    public init(
        directory: String, fsyncPolicy: FsyncPolicy = .always, clock: any WallClock = SystemClock(),
        maxOpenFiles: Int = 256, logger: Logger = Logger(label: "runjournal.store")
    ) throws {
        var info = stat()
        guard stat(directory, &info) == 0 else { throw JournalError.io(operation: "open journal directory", path: directory, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw JournalError.io(operation: "open journal directory", path: directory, errno: ENOTDIR) }
        self.directory = directory
        self.fsyncPolicy = fsyncPolicy
        self.clock = clock
        self.maxOpenFiles = max(1, maxOpenFiles)
        self.logger = logger
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
        let millis = clock.nowMillis()
        let id = id ?? RunID.generate(at: millis)
        var compactMetadata = Array("{}".utf8)
        if let metadata {
            compactMetadata = try JSONCompactor.compact(metadata)
            guard compactMetadata.first == UInt8(ascii: "{") else {
                throw JournalError.invalidJSON(offset: -1, reason: "metadata must be a JSON object")
            }
        }
        var data = JSONWriter()
        data.object { $0.key("metadata"); $0.raw(compactMetadata) }
        var line = [UInt8]()
        EventLine.append(seq: 1, millis: millis, type: .created, compactData: data.bytes, to: &line)

        // The temporary name starts with '.', which no run id can, and does not end in .jsonl.
        let temporary = directory + "/.create-" + ULID.make(millis: millis) + ".tmp"
        let fd = try Sys.open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        do {
            defer { close(fd) }
            try line.withUnsafeBytes { buffer throws in try Sys.writeAll(fd, buffer, path: temporary) }
            try Sys.fdatasync(fd, path: temporary)
        } catch {
            unlink(temporary)
            throw error
        }
        let finalPath = path(of: id)
        let linked = link(temporary, finalPath)
        let linkErrno = errno
        unlink(temporary)
        guard linked == 0 else {
            if linkErrno == EEXIST { throw JournalError.runExists(id) }
            throw JournalError.io(operation: "link", path: finalPath, errno: linkErrno)
        }
        try Sys.fsyncDirectory(directory)

        var summary = RunSummary(id: id)
        try line.withUnsafeBytes { raw in
            try JournalReader.forEachLine(in: raw, offset: 0, path: finalPath) { line in
                summary.consume(line: line.bytes, fields: line.fields)
                return true
            }
        }
        return summary
    }

    // MARK: Append

    /// Appends a batch of events as one `write(2)` and returns their seqs. The batch is refused whole when it
    /// is empty, holds `run.created` or `run.stop_requested` (reserved for create and stop), or has anything
    /// after a terminal event; `runTerminal` when the run already ended.
    @discardableResult
    public func append(_ id: RunID, _ events: [NewEvent]) throws -> ClosedRange<Int64> {
        try Self.validateBatch(events)
        return try appendValidated(id, needsSummary: false) { _, _, _ in events }!
    }

    /// Appends `run.stop_requested` unless one exists. Returns the run's summary after the request.
    /// `runTerminal` when the run already ended (stop is then meaningless).
    @discardableResult
    public func requestStop(_ id: RunID) throws -> RunSummary {
        _ = try appendValidated(id, needsSummary: true) { summary, _, _ in
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
            return try appendValidated(id, needsSummary: true) { (summary, _, _) throws -> [NewEvent]? in
                guard let events = decide(summary!) else { return nil }
                try Self.validateBatch(events, allowStopRequest: true)
                return events
            }
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
        _ id: RunID, needsSummary: Bool,
        _ decide: (RunSummary?, Int64, EventType) throws -> [NewEvent]?
    ) throws -> ClosedRange<Int64>? {
        // At most two attempts: the cached handle may point at a journal that was pruned (and maybe recreated).
        for attempt in 0..<2 {
            let file = try handle(for: id, reopen: attempt > 0)
            guard let result = try file.append(clock: clock, policy: fsyncPolicy, needsSummary: needsSummary, decide: decide) else {
                return nil
            }
            switch result.outcome {
            case .stale:
                continue
            case .appended(let seqs):
                switch fsyncPolicy {
                case .always: try file.sync(upTo: result.generation)
                case .interval: flusher?.markDirty(file)
                case .never: break
                }
                return seqs
            }
        }
        throw JournalError.runNotFound(id)
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
        let file = try JournalFile(id: id, path: path(of: id), logger: logger)
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
            do { try file.syncIfDirty() } catch {
                logger.error("interval fsync failed", metadata: ["path": "\(file.path)", "error": "\(error)"])
            }
        }
    }
}
