#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport

/// One open journal: its file descriptor plus what this process knows about the file's end.
///
/// Two locks guard an append, and both are needed. `flock` serializes appenders across *processes* (the
/// CLI, several responders), but it belongs to the open file description, which every thread of this
/// process shares through `fd` — so a second thread's `flock` would succeed at once. `lock` serializes the
/// threads of this process first.
///
/// A failed write or sync makes the journal *failed* (see `JournalFailure`): every append of that sync's
/// generation and every later one is refused, and the sync is never retried.
final class JournalFile: @unchecked Sendable {
    let id: RunID
    let path: String
    let fd: Int32
    let inode: UInt64
    private let logger: Logger
    private let io: JournalIO
    private let failures: FailedJournals
    private let clock: any WallClock
    private let lock = ConditionLock()

    /// What we know of the file's end; valid while the file's size equals `tail.size`.
    private var tail: TailState
    /// The run's summary, built lazily and kept current; `summary.byteCount` says how far it has read.
    private var summary: RunSummary?
    /// Every idempotency key of the run, kept in step with `summary` (valid only while `summary` is).
    private var keys: [String: KeyedBatch] = [:]

    // Group commit for fsync=always: appenders record the generation they wrote, one of them syncs for all.
    private var writtenGeneration: UInt64 = 0
    private var syncedGeneration: UInt64 = 0
    private var syncInProgress = false
    /// The committed size covered by the last successful sync (or the size at open: what was there before).
    private var syncedSize: Int64 = 0
    /// Set once by the first failed write or sync; never cleared (a repaired journal is a new file).
    private var failure: JournalFailure?
    /// False once the filesystem said it cannot preallocate (ext4 without extents, some network filesystems):
    /// the reservation is then skipped, and a full disk is met by `write(2)` itself.
    private var canReserve = true
    /// The file offset up to which space is reserved (by this handle's last reservation; bytes other writers
    /// appended inside it only used it up). A reservation covers `reservationBytes` ahead, so a small append
    /// costs no `fallocate`; a run that ends gives back what it did not use.
    private var reservedEnd: Int64 = 0
    private static let reservationBytes: Int64 = 16 * 1024
    /// For fsync=interval: a write happened since the last sync.
    private(set) var isDirty = false
    /// The last append's line buffer, reused by the next one (only while it is small: a huge batch's buffer
    /// is not worth holding on to for every open journal).
    private var writeBuffer: [UInt8] = []
    private static let keptWriteBufferCapacity = 64 * 1024

    struct TailState {
        var size: Int64
        var lastSeq: Int64
        var lastMillis: Int64
        var lastType: EventType
    }

    /// A keyed batch as the journal records it.
    struct KeyedBatch {
        var record: IdempotencyRecord
        var lastSeq: Int64
    }

    /// Opens the journal of `id`; throws `runNotFound` when it does not exist. A journal marked failed (by this
    /// process, or by the marker file of another) opens failed. With `syncOnOpen` (fsync=always) what the file
    /// holds is synced first: a batch another writer wrote but never synced (it was killed) is then durable
    /// before this handle counts it as such — in a failure's durable size, or in a keyed retry's answer.
    init(
        id: RunID, path: String, io: JournalIO, failures: FailedJournals, clock: any WallClock, logger: Logger,
        syncOnOpen: Bool = false
    ) throws {
        let fd: Int32
        let openSize: Int64
        do {
            fd = try asJournalError { try Sys.open(path, O_RDWR | O_APPEND) }
        } catch {
            if case JournalError.io(_, _, let code)? = error as? JournalError, code == ENOENT { throw JournalError.runNotFound(id) }
            throw error
        }
        self.id = id
        self.path = path
        self.fd = fd
        self.io = io
        self.failures = failures
        self.clock = clock
        self.logger = logger
        do {
            let info = try asJournalError { try Sys.fstat(fd, path: path) }
            inode = info.inode
            tail = TailState(size: -1, lastSeq: 0, lastMillis: 0, lastType: .created)
            openSize = info.size
            syncedSize = syncOnOpen ? 0 : openSize
        } catch {
            Glibc.close(fd)
            throw error
        }
        failure = failures.failure(of: id, inode: inode) ?? markedFailure()
        if syncOnOpen && failure == nil {
            // Nothing is known durable until a sync of ours says so; a failing one fails the journal at once.
            do {
                try io.fdatasync(fd, path: path)
                syncedSize = openSize  // taken before the sync: all of it is covered
            } catch {
                _ = lock.withLock { fail(operation: "fdatasync", errno: Self.errno(of: error)) }
            }
        }
    }

    deinit {
        Glibc.close(fd)
    }

    /// The failure recorded by the marker file, if it concerns this file (a marker left beside a journal that
    /// was since repaired or re-created names another inode and is ignored).
    private func markedFailure() -> JournalFailure? {
        guard let failure = JournalFailure.marker(forJournal: path, inode: inode) else { return nil }
        failures.record(failure, for: id)
        return failure
    }

    /// The journal's failure, if it failed (in this process or another that left a marker).
    var currentFailure: JournalFailure? {
        lock.withLock { failure }
    }

    private func failedError(_ failure: JournalFailure) -> JournalError {
        .journalFailed(id, operation: failure.operation, errno: failure.errno)
    }

    /// Records the first failure: in memory, in the store's registry and in the marker file, logged once.
    /// Called with `lock` held.
    private func fail(operation: String, errno code: Int32) -> JournalError {
        if let failure { return failedError(failure) }
        let failure = JournalFailure(operation: operation, errno: code, durableSize: syncedSize, inode: inode)
        self.failure = failure
        failures.record(failure, for: id)
        io.metrics.journalsFailed.increment()
        logger.error(
            "journal failed: appends to this run are refused until `runjournal verify --repair`",
            metadata: [
                "run": "\(id)", "operation": "\(operation)", "error": "\(String(cString: strerror(code)))",
                "durable_size": "\(syncedSize)",
            ])
        var info = stat()
        let mode = Glibc.fstat(fd, &info) == 0 ? info.st_mode & 0o777 : FileModes.defaultJournalMode
        failure.writeMarker(forJournal: path, mode: mode, millis: clock.nowMillis(), logger: logger)
        return failedError(failure)
    }

    /// Marks the journal failed from outside the append path (a reader's sync failed on this file).
    func markFailed(operation: String, errno code: Int32) -> JournalError {
        lock.withLock { fail(operation: operation, errno: code) }
    }

    enum AppendOutcome {
        case appended(ClosedRange<Int64>)
        /// A retry of a keyed batch already in the journal: nothing was appended; these are its seqs.
        case replayed(ClosedRange<Int64>)
        /// The file was unlinked (pruned) or replaced since it was opened: reopen by path and retry.
        case stale
    }

    /// Appends `events` (already validated as a batch) under both locks, in one `write(2)`: every line but the
    /// last carries `"more":true`, so readers see the batch only once its last line is there.
    ///
    /// `decide` runs under the locks with the run's current summary and returns the events to append, or nil
    /// to append nothing; this is how the watchdog and stop grace re-check "still idle?" without racing an
    /// event that just arrived. `conditions` are checked under the locks too, before `decide`: a known
    /// idempotency key answers its batch's seqs (`.replayed`) or `idempotencyKeyReused`; an expected last seq
    /// that is not the run's throws `lastSeqMismatch`. Returns nil when `decide` declined.
    func append(
        needsSummary: Bool, conditions: AppendConditions = AppendConditions(),
        decide: (_ summary: RunSummary?, _ lastSeq: Int64, _ lastType: EventType) throws -> [NewEvent]?
    ) throws -> (outcome: AppendOutcome, generation: UInt64)? {
        try lock.withLock { () throws -> (outcome: AppendOutcome, generation: UInt64)? in
            if let failure {
                // A repair renames a new file over this one: then this handle is stale, not failed.
                if (try? Sys.fstat(fd, path: path))?.linkCount == 0 { return (.stale, 0) }
                throw failedError(failure)
            }
            try asJournalError { try Sys.flock(fd, LOCK_EX, path: path) }
            defer { Sys.unlock(fd) }

            let info = try asJournalError { try Sys.fstat(fd, path: path) }
            if info.linkCount == 0 { return (.stale, 0) }
            // If another writer failed (another handle of this store, or another process), the registry or its
            // marker says so. Looked at on every append, not only when the size changed: a failed write that was
            // cut off leaves the size as it was. (A new handle looked at both when it opened.)
            if tail.size >= 0, let known = failures.failure(of: id, inode: inode) ?? markedFailure() {
                failure = known
                throw failedError(known)
            }
            if info.size != tail.size {
                // Someone else wrote (or cut a torn tail) since we last looked: our reservation may be gone.
                reservedEnd = 0
                try refreshTail(fileSize: info.size)
            }
            let request = conditions.idempotency
            if needsSummary || request != nil { try catchUpSummary(fileSize: tail.size) }

            if let request, let existing = keys[request.key] {
                guard existing.record.sameRequest(as: request) else { throw JournalError.idempotencyKeyReused(id, key: request.key) }
                // The original may still be waiting for its sync (or was written by another process): the
                // retry is answered only once everything up to here is on disk.
                // `syncedSize` counts only what a sync of this handle covered (with fsync=always a handle syncs
                // when it opens), so a batch another writer wrote and never synced is synced before the answer.
                if syncedSize < tail.size { writtenGeneration += 1 }
                return (.replayed(existing.record.firstSeq...existing.lastSeq), writtenGeneration)
            }
            if let expected = conditions.expectedLastSeq, expected != tail.lastSeq {
                throw JournalError.lastSeqMismatch(id, expected: expected, actual: tail.lastSeq)
            }
            if tail.lastType.isTerminal {
                throw JournalError.runTerminal(id, RunStatus.queued.after(tail.lastType))
            }
            guard let events = try decide(needsSummary ? summary : nil, tail.lastSeq, tail.lastType) else { return nil }
            if events.isEmpty { return nil }

            // The line buffer is kept between appends (we hold the lock), so a small append allocates nothing.
            var bytes = [UInt8]()
            swap(&bytes, &writeBuffer)
            bytes.removeAll(keepingCapacity: true)
            bytes.reserveCapacity(events.reduce(0) { $0 + $1.data.count + 96 })
            defer { if bytes.capacity <= Self.keptWriteBufferCapacity { swap(&bytes, &writeBuffer) } }
            let millis = max(clock.nowMillis(), tail.lastMillis)
            var seq = tail.lastSeq
            let firstSeq = tail.lastSeq + 1
            let record = request.map { request -> IdempotencyRecord in
                var record = request
                record.firstSeq = firstSeq
                return record
            }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Timestamp.byteCount) { timestamp in
                // Every event of a batch gets the same ts: format it once.
                Timestamp.write(millis: millis, to: timestamp.baseAddress!)
                for (index, event) in events.enumerated() {
                    seq += 1
                    let last = index == events.count - 1
                    EventLine.append(
                        seq: seq, timestamp: UnsafeBufferPointer(timestamp), type: event.type, compactData: event.data,
                        more: !last, idempotency: last ? record : nil, to: &bytes)
                }
            }
            let startSize = tail.size
            // Reserve the space first: a full disk is then refused before a byte is written, and the journal
            // stays good (507, appendable once there is room). Only a failing write makes it failed.
            let endSize = startSize + Int64(bytes.count)
            if canReserve && endSize > reservedEnd {
                var length = max(Int64(bytes.count), Self.reservationBytes)
                do {
                    canReserve = try io.reserve(fd, offset: startSize, length: length, path: path)
                } catch JournalError.io(_, _, ENOSPC) where length > Int64(bytes.count) {
                    // Not room for the read-ahead: is there room for this batch?
                    length = Int64(bytes.count)
                    canReserve = try io.reserve(fd, offset: startSize, length: length, path: path)
                }
                reservedEnd = canReserve ? startSize + length : 0
            }
            do {
                try bytes.withUnsafeBytes { buffer throws in try io.writeAll(fd, buffer, path: path) }
            } catch {
                // What a short write left is an uncommitted batch (its last line is missing), which no reader
                // publishes; cut it off if we can (the repair does it otherwise). Never below `startSize`.
                let code = Self.errno(of: error)
                let cut = (try? io.ftruncate(fd, startSize, path: path)) != nil
                reservedEnd = 0
                // A refusal (no space, quota, file size limit) that left the file as it was is not a disk
                // fault: the bytes before it are as good as they were, so the run stays appendable. Anything
                // else (EIO...) or a cut that failed may have left dirty pages that never reach the disk.
                if cut && Self.refusalErrnos.contains(code) { throw error }
                throw fail(operation: "write", errno: code)
            }
            tail = TailState(size: endSize, lastSeq: seq, lastMillis: millis, lastType: events[events.count - 1].type)
            if tail.lastType.isTerminal && reservedEnd > endSize {
                // Nothing more will be appended: give back the blocks reserved past the end (ftruncate to the
                // current size frees them; best effort, they are only space).
                _ = try? io.ftruncate(fd, endSize, path: path)
                reservedEnd = 0
            }
            if summary?.byteCount == startSize {
                try bytes.withUnsafeBytes { raw in
                    try JournalReader.forEachLine(in: raw, offset: startSize, path: path) { line in
                        consume(line)
                        return true
                    }
                }
            }
            writtenGeneration += 1
            isDirty = true
            return (.appended(firstSeq...seq), writtenGeneration)
        }
    }

    /// Blocks until everything up to `generation` is on disk. Concurrent callers share one `fdatasync`: the
    /// first becomes the syncer, the rest wait and find their generation covered (group commit). When the sync
    /// fails, the journal fails, and every waiter whose generation it did not cover gets the error: none of
    /// them may acknowledge, and nobody calls `fdatasync` again to "retry" (it would return 0 for pages the
    /// kernel already gave up on).
    func sync(upTo generation: UInt64) throws {
        try lock.withLock { () throws in
            while syncedGeneration < generation {
                if let failure { throw failedError(failure) }
                if syncInProgress {
                    lock.wait()
                    continue
                }
                syncInProgress = true
                let target = writtenGeneration
                let targetSize = tail.size
                isDirty = false
                var syncError: (any Error)?
                // Sync outside the mutex so appenders keep writing (and join the next sync) meanwhile.
                lock.withUnlocked {
                    do { try io.fdatasync(fd, path: path) } catch { syncError = error }
                }
                syncInProgress = false
                lock.broadcast()
                if let syncError { throw fail(operation: "fdatasync", errno: Self.errno(of: syncError)) }
                syncedGeneration = max(syncedGeneration, target)
                syncedSize = max(syncedSize, targetSize)
            }
        }
    }

    /// The journal's size after the last append, and how much of it a sync has made durable.
    var publicationState: (end: Int64, durableEnd: Int64) {
        lock.withLock { (tail.size, syncedSize) }
    }

    /// Syncs if anything was written since the last sync (the interval flusher's call).
    func syncIfDirty() throws {
        let generation: UInt64 = lock.withLock { isDirty && failure == nil ? writtenGeneration : 0 }
        if generation > 0 { try sync(upTo: generation) }
    }

    /// The summary, brought up to date with whatever was appended (by anyone) since it was last read; nil
    /// when the journal was unlinked (pruned) since this handle opened it.
    func currentSummary() throws -> RunSummary? {
        // fstat outside the lock: every GET of a run comes here, and a syscall inside the critical section
        // made concurrent readers of one run queue on the mutex (and sleep on its futex). A size read a
        // moment before the lock is as current as the request needs; catching up never goes backwards.
        let info = try asJournalError { try Sys.fstat(fd, path: path) }
        if info.linkCount == 0 { return nil }
        return try lock.withLock { () throws -> RunSummary? in
            try catchUpSummary(fileSize: info.size)
            return summary!
        }
    }

    /// Write errors that mean "nothing more was accepted": the kernel refused the bytes, it did not lose any.
    static let refusalErrnos: Set<Int32> = [ENOSPC, EDQUOT, EFBIG]

    static func errno(of error: any Error) -> Int32 {
        if case JournalError.io(_, _, let code)? = error as? JournalError { return code }
        return EIO
    }

    /// Reads the tail of the file to learn its last committed line, and truncates what follows it: a torn last
    /// line, or the lines of a batch whose last line is missing (a writer killed in the middle of its write).
    /// No reader ever published those bytes. Called with `flock` held.
    private func refreshTail(fileSize: Int64) throws {
        guard let last = try LastCommittedLine.read(fd: fd, size: fileSize, path: path, firstWindow: 64 * 1024) else {
            throw JournalError.corruptJournal(path: path, line: 1, reason: "no complete line")
        }
        let fields: EventLine.Fields? = last.bytes.withUnsafeBytes { raw in EventLine.scan(raw) }
        guard let fields else {
            throw JournalError.corruptJournal(path: path, line: 0, reason: "last line is not a valid event (run verify)")
        }
        let completeSize = last.end
        if completeSize < fileSize {
            logger.warning(
                "truncating an uncommitted journal tail (torn line or incomplete batch)",
                metadata: ["run": "\(id)", "offset": "\(completeSize)", "bytes": "\(fileSize - completeSize)"])
            do {
                try io.ftruncate(fd, completeSize, path: path)
            } catch {
                throw fail(operation: "ftruncate", errno: Self.errno(of: error))
            }
            if let current = summary, current.byteCount > completeSize {
                summary = nil
                keys = [:]
            }
        }
        let type = String(decoding: last.bytes[fields.type], as: UTF8.self)
        tail = TailState(size: completeSize, lastSeq: fields.seq, lastMillis: fields.timestampMillis, lastType: (try? EventType(type)) ?? .started)
    }

    /// Extends `summary` (and the key index) over committed lines appended since it was last read (the whole
    /// file the first time). `fileSize` is the size the caller just saw: the common case — nothing appended
    /// since — then costs no read at all (GET /v1/runs/:id is hot).
    private func catchUpSummary(fileSize: Int64) throws {
        if let current = summary, fileSize == current.byteCount { return }
        if summary == nil {
            summary = RunSummary(id: id)
            keys = [:]
        }
        let reader = JournalReader(fd: fd, path: path)
        try reader.forEachLine(from: summary!.byteCount) { (line: JournalReader.Line) throws -> Bool in
            consume(line)
            return true
        }
    }

    /// Accounts for one committed line in the summary and the key index.
    private func consume(_ line: JournalReader.Line) {
        summary!.consume(line: line.bytes, fields: line.fields)
        if let range = line.fields.idempotency,
            let record = IdempotencyRecord.parse(UnsafeRawBufferPointer(rebasing: line.bytes[range]))
        {
            keys[record.key] = KeyedBatch(record: record, lastSeq: line.seq)
        }
    }
}

/// Conditions an append is made under, checked under the journal's locks.
public struct AppendConditions: Sendable {
    /// The request's idempotency record: a retry of a batch already appended with this key is answered
    /// with that batch's seqs, and nothing is appended.
    public var idempotency: IdempotencyRecord?
    /// `If-Match`: append only if the run's last seq is this.
    public var expectedLastSeq: Int64?

    public init(idempotency: IdempotencyRecord? = nil, expectedLastSeq: Int64? = nil) {
        self.idempotency = idempotency
        self.expectedLastSeq = expectedLastSeq
    }
}
