#if canImport(Glibc)
import Glibc
#endif
import Logging

/// One open journal: its file descriptor plus what this process knows about the file's end.
///
/// Two locks guard an append, and both are needed. `flock` serializes appenders across *processes* (the
/// CLI, several responders), but it belongs to the open file description, which every thread of this
/// process shares through `fd` — so a second thread's `flock` would succeed at once. `lock` serializes the
/// threads of this process first.
final class JournalFile: @unchecked Sendable {
    let id: RunID
    let path: String
    let fd: Int32
    private let inode: UInt64
    private let logger: Logger
    private let lock = ConditionLock()

    /// What we know of the file's end; valid while the file's size equals `tail.size`.
    private var tail: TailState
    /// The run's summary, built lazily and kept current; `summary.byteCount` says how far it has read.
    private var summary: RunSummary?

    // Group commit for fsync=always: appenders record the generation they wrote, one of them syncs for all.
    private var writtenGeneration: UInt64 = 0
    private var syncedGeneration: UInt64 = 0
    private var syncInProgress = false
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

    /// Opens the journal of `id`; throws `runNotFound` when it does not exist.
    init(id: RunID, path: String, logger: Logger) throws {
        let fd: Int32
        do {
            fd = try Sys.open(path, O_RDWR | O_APPEND)
        } catch {
            if case JournalError.io(_, _, let code)? = error as? JournalError, code == ENOENT { throw JournalError.runNotFound(id) }
            throw error
        }
        self.id = id
        self.path = path
        self.fd = fd
        self.logger = logger
        do {
            let info = try Sys.fstat(fd, path: path)
            inode = UInt64(info.st_ino)
            tail = TailState(size: -1, lastSeq: 0, lastMillis: 0, lastType: .created)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit {
        Glibc.close(fd)
    }

    enum AppendOutcome {
        case appended(ClosedRange<Int64>)
        /// The file was unlinked (pruned) or replaced since it was opened: reopen by path and retry.
        case stale
    }

    /// Appends `events` (already validated as a batch) under both locks, in one `write(2)`.
    ///
    /// `decide` runs under the locks with the run's current summary and returns the events to append, or nil
    /// to append nothing; this is how the watchdog and stop grace re-check "still idle?" without racing an
    /// event that just arrived. Returns the assigned seqs (nil when `decide` declined).
    func append(
        clock: any WallClock, policy: FsyncPolicy, needsSummary: Bool,
        decide: (_ summary: RunSummary?, _ lastSeq: Int64, _ lastType: EventType) throws -> [NewEvent]?
    ) throws -> (outcome: AppendOutcome, generation: UInt64)? {
        try lock.withLock { () throws -> (outcome: AppendOutcome, generation: UInt64)? in
            try Sys.flock(fd, LOCK_EX, path: path)
            defer { Sys.unlock(fd) }

            let info = try Sys.fstat(fd, path: path)
            if info.st_nlink == 0 { return (.stale, 0) }
            if Int64(info.st_size) != tail.size { try refreshTail(fileSize: Int64(info.st_size)) }
            if needsSummary { try catchUpSummary(fileSize: tail.size) }

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
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Timestamp.byteCount) { timestamp in
                // Every event of a batch gets the same ts: format it once.
                Timestamp.write(millis: millis, to: timestamp.baseAddress!)
                for event in events {
                    seq += 1
                    EventLine.append(seq: seq, timestamp: UnsafeBufferPointer(timestamp), type: event.type, compactData: event.data, to: &bytes)
                }
            }
            let startSize = tail.size
            do {
                try bytes.withUnsafeBytes { buffer throws in try Sys.writeAll(fd, buffer, path: path) }
            } catch {
                // A short or failed write (ENOSPC, EIO) must not leave a torn line for readers: cut it off.
                try? Sys.ftruncate(fd, startSize, path: path)
                throw error
            }
            let firstSeq = tail.lastSeq + 1
            tail = TailState(size: startSize + Int64(bytes.count), lastSeq: seq, lastMillis: millis, lastType: events[events.count - 1].type)
            if summary?.byteCount == startSize {
                try bytes.withUnsafeBytes { raw in
                    try JournalReader.forEachLine(in: raw, offset: startSize, path: path) { line in
                        summary!.consume(line: line.bytes, fields: line.fields)
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
    /// first becomes the syncer, the rest wait and find their generation covered (group commit).
    func sync(upTo generation: UInt64) throws {
        try lock.withLock { () throws in
            while syncedGeneration < generation {
                if syncInProgress {
                    lock.wait()
                    continue
                }
                syncInProgress = true
                let target = writtenGeneration
                isDirty = false
                var failure: (any Error)?
                // Sync outside the mutex so appenders keep writing (and join the next sync) meanwhile.
                pthreadUnlocked {
                    do { try Sys.fdatasync(fd, path: path) } catch { failure = error }
                }
                syncInProgress = false
                lock.broadcast()
                if let failure {
                    isDirty = true
                    throw failure
                }
                syncedGeneration = max(syncedGeneration, target)
            }
        }
    }

    /// Syncs if anything was written since the last sync (the interval flusher's call).
    func syncIfDirty() throws {
        let generation: UInt64 = lock.withLock { isDirty ? writtenGeneration : 0 }
        if generation > 0 { try sync(upTo: generation) }
    }

    /// The summary, brought up to date with whatever was appended (by anyone) since it was last read.
    /// The summary, brought up to date with whatever was appended (by anyone) since it was last read; nil
    /// when the journal was unlinked (pruned) since this handle opened it.
    func currentSummary() throws -> RunSummary? {
        // fstat outside the lock: every GET of a run comes here, and a syscall inside the critical section
        // made concurrent readers of one run queue on the mutex (and sleep on its futex). A size read a
        // moment before the lock is as current as the request needs; catching up never goes backwards.
        let info = try Sys.fstat(fd, path: path)
        if info.st_nlink == 0 { return nil }
        return try lock.withLock { () throws -> RunSummary? in
            try catchUpSummary(fileSize: Int64(info.st_size))
            return summary!
        }
    }

    private func pthreadUnlocked(_ body: () -> Void) {
        lock.withUnlocked(body)
    }

    /// Reads the tail of the file to learn its last complete line; truncates a torn tail (a crash in the middle
    /// of a write leaves a last line without `\n`). Called with `flock` held.
    private func refreshTail(fileSize: Int64) throws {
        var window = min(fileSize, 64 * 1024)
        while true {
            var buffer = [UInt8](repeating: 0, count: Int(window))
            let start = fileSize - window
            let count = try buffer.withUnsafeMutableBytes { raw throws in try Sys.pread(fd, into: raw, at: start, path: path) }
            guard count == Int(window) else {
                throw JournalError.corruptJournal(path: path, line: 0, reason: "file shrank while being read")
            }
            guard let lastNewline = buffer.lastIndex(of: 0x0A) else {
                if start == 0 { throw JournalError.corruptJournal(path: path, line: 1, reason: "no complete line") }
                window = min(fileSize, window * 4)
                continue
            }
            let completeSize = start + Int64(lastNewline) + 1
            let previousNewline = buffer[..<lastNewline].lastIndex(of: 0x0A)
            if previousNewline == nil && start > 0 {
                window = min(fileSize, window * 4)
                continue
            }
            let lineStart = previousNewline.map { $0 + 1 } ?? 0
            let fields: EventLine.Fields? = buffer.withUnsafeBytes { raw in
                EventLine.scan(UnsafeRawBufferPointer(rebasing: raw[lineStart..<lastNewline]))
            }
            guard let fields else {
                throw JournalError.corruptJournal(path: path, line: 0, reason: "last line is not a valid event (run verify)")
            }
            if completeSize < fileSize {
                logger.warning(
                    "truncating torn journal tail",
                    metadata: ["run": "\(id)", "offset": "\(completeSize)", "torn_bytes": "\(fileSize - completeSize)"])
                try Sys.ftruncate(fd, completeSize, path: path)
                if let current = summary, current.byteCount > completeSize { summary = nil }
            }
            let type = buffer.withUnsafeBytes { raw in String(decoding: raw[(lineStart + fields.type.lowerBound)..<(lineStart + fields.type.upperBound)], as: UTF8.self) }
            tail = TailState(size: completeSize, lastSeq: fields.seq, lastMillis: fields.timestampMillis, lastType: (try? EventType(type)) ?? .started)
            return
        }
    }

    /// Extends `summary` over complete lines appended since it was last read (the whole file the first time).
    /// `fileSize` is the size the caller just saw: the common case — nothing appended since — then costs no
    /// read at all (GET /v1/runs/:id is hot).
    private func catchUpSummary(fileSize: Int64) throws {
        if let current = summary, fileSize == current.byteCount { return }
        var current = summary ?? RunSummary(id: id)
        let reader = JournalReader(fd: fd, path: path)
        try reader.forEachLine(from: current.byteCount) { (line: JournalReader.Line) throws -> Bool in
            current.consume(line: line.bytes, fields: line.fields)
            return true
        }
        summary = current
    }

}
