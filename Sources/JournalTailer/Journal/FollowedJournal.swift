#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import RunJournal
import Synchronization
import SystemSupport

/// How a journal (or directory) is currently being followed; kept so it can be undone exactly.
enum FollowMethod: Sendable {
    case none
    case inotify(InotifyHub, InotifyHub.Registration)
    case polling(Poller)
}

/// One followed journal file: the one open descriptor, the one reader that turns growth into published
/// complete lines, the bounded window of recent bytes, and the table of subscribers with their offsets.
///
/// Publishing is done by `refresh`, serialised by `refreshLock` and run on the tailer's thread (or the
/// subscribing thread for the first read): it measures the file, reads only the bytes past the published
/// end, keeps them up to the last '\n', optionally fdatasyncs, appends them to the window and wakes the
/// subscribers that have something new. Subscribers read under `state`'s lock, which is never held across
/// I/O, so a slow subscriber or a slow disk does not block the others.
final class FollowedJournal: Sendable, InotifyTarget, PollTarget {
    struct Subscriber {
        var offset: Int64
        /// Cleared when `onWake` is called, set again by the subscriber's next `read`: a subscriber is woken
        /// once per read, not once per publish, so a writer outpacing a reader does not flood it with wakes.
        var armed = true
        /// Set when this subscriber alone is past its end (the file shrank below its offset).
        var gone: GoneReason?
        let wantsSync: Bool
        let onWake: @Sendable () -> Void
    }

    private struct State {
        var window: ByteWindow
        var subscribers: [UInt64: Subscriber] = [:]
        var nextID: UInt64 = 1
        var syncWanted = 0
        var gone: GoneReason?
        var failure: TailerError?
        var follow: FollowMethod = .none
        /// No longer followed (ended, or its last subscriber left): nothing may attach a follow method.
        var retired = false
    }

    private struct RefreshOutcome {
        var wakes: [@Sendable () -> Void] = []
        var ended = false
    }

    private enum ReadPlan {
        case result(TailRead)
        case failure(TailerError)
        case fromFile(start: Int64, limit: Int64)
    }

    let path: String
    let fd: Int32
    let identity: FileStatus
    private let core: TailerCore
    private let refreshLock = LockedValue(())
    private let state: LockedValue<State>
    /// `pread` calls by the shared reader (once per change, however many subscribers).
    let sharedReads = Atomic<Int>(0)
    /// `pread` calls by subscribers catching up from behind the window.
    let catchUpReads = Atomic<Int>(0)

    /// Takes ownership of `fd` (closed when the journal is released, i.e. after its last subscriber left and
    /// no thread is still using it). The window starts empty at `offset`, the first subscriber's offset.
    init(path: String, fd: Int32, identity: FileStatus, offset: Int64, core: TailerCore) {
        self.path = path
        self.fd = fd
        self.identity = identity
        self.core = core
        self.state = LockedValue(State(window: ByteWindow(capacity: core.windowBytes, at: offset)))
    }

    deinit {
        Sys.close(fd)
    }

    // MARK: Subscribers

    /// Adds a subscriber; nil when the journal has ended or was released (the caller follows afresh).
    func addSubscriber(offset: Int64, wantsSync: Bool, onWake: @escaping @Sendable () -> Void) -> UInt64? {
        state.withLock { state -> UInt64? in
            guard !state.retired, state.gone == nil, state.failure == nil else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = Subscriber(offset: offset, wantsSync: wantsSync, onWake: onWake)
            if wantsSync { state.syncWanted += 1 }
            return id
        }
    }

    /// Removes a subscriber; returns how many remain and the removed one's offset.
    func removeSubscriber(_ id: UInt64) -> (remaining: Int, offset: Int64?) {
        state.withLock { state in
            let removed = state.subscribers.removeValue(forKey: id)
            if removed?.wantsSync == true { state.syncWanted -= 1 }
            return (state.subscribers.count, removed?.offset)
        }
    }

    /// Wakes the subscriber if something is already waiting for it (published before it joined, or the end).
    func wakeIfPending(_ id: UInt64) {
        let wake = state.withLock { state -> (@Sendable () -> Void)? in
            guard var subscriber = state.subscribers[id], subscriber.armed else { return nil }
            let pending = subscriber.offset < state.window.end || subscriber.gone != nil
                || state.gone != nil || state.failure != nil
            guard pending else { return nil }
            subscriber.armed = false
            state.subscribers[id] = subscriber
            return subscriber.onWake
        }
        if let wake {
            core.metrics.wakeups.increment()
            wake()
        }
    }

    func offset(of id: UInt64) -> Int64? {
        state.withLock { $0.subscribers[id]?.offset }
    }

    // MARK: Follow method

    /// Records how the journal is followed; false (and nothing recorded) when it was retired meanwhile.
    func attach(_ follow: FollowMethod) -> Bool {
        state.withLock { state in
            guard !state.retired else { return false }
            state.follow = follow
            return true
        }
    }

    /// Swaps the follow method (inotify → polling); nil when retired.
    func replaceFollow(with follow: FollowMethod) -> FollowMethod? {
        state.withLock { state in
            guard !state.retired else { return nil }
            defer { state.follow = follow }
            return state.follow
        }
    }

    /// Marks the journal as no longer followed and hands back the follow method to undo.
    func retire() -> FollowMethod {
        state.withLock { state in
            state.retired = true
            defer { state.follow = .none }
            return state.follow
        }
    }

    var snapshot: JournalStatistics {
        state.withLock { state in
            let method: JournalStatistics.FollowKind
            switch state.follow {
            case .none: method = .none
            case .inotify: method = .inotify
            case .polling: method = .polling
            }
            return JournalStatistics(
                subscriptions: state.subscribers.count,
                publishedEnd: state.window.end,
                windowStart: state.window.start,
                sharedReads: sharedReads.load(ordering: .relaxed),
                catchUpReads: catchUpReads.load(ordering: .relaxed),
                followedBy: method
            )
        }
    }

    // MARK: Reading (subscriber side)

    /// The subscriber's next complete lines: from the window when it is inside it, from the file (at its own
    /// offset, on its own thread) when the window has moved past it. Never waits for the reader's I/O.
    func read(subscriber id: UInt64, maxBytes: Int) throws(TailerError) -> TailRead {
        // A retry happens only when the file shrank under a catch-up read; a few are plenty.
        for _ in 0..<4 {
            let plan = state.withLock { state -> ReadPlan in
                guard var subscriber = state.subscribers[id] else { return .failure(.cancelled) }
                subscriber.armed = true
                defer { state.subscribers[id] = subscriber }
                if let reason = subscriber.gone { return .result(.gone(reason)) }
                let end = state.window.end
                if subscriber.offset < end {
                    if subscriber.offset < state.window.start {
                        return .fromFile(start: subscriber.offset, limit: end)
                    }
                    if let bytes = state.window.completeLines(from: subscriber.offset, maxBytes: maxBytes) {
                        let start = subscriber.offset
                        subscriber.offset += Int64(bytes.count)
                        return .result(.lines(bytes: bytes, startOffset: start))
                    }
                    // Only after the file shrank mid-line: the rest of that line is not published yet.
                }
                if let reason = state.gone { return .result(.gone(reason)) }
                if let failure = state.failure { return .failure(failure) }
                return .result(.caughtUp)
            }
            switch plan {
            case .result(let result):
                return result
            case .failure(let error):
                throw error
            case .fromFile(let start, let limit):
                let bytes: [UInt8]?
                do {
                    bytes = try catchUp(from: start, limit: limit, maxBytes: maxBytes)
                } catch {
                    throw TailerError(error, path: path)
                }
                guard let bytes else { continue }
                let committed = state.withLock { state -> Bool in
                    // The lines count only if nothing moved meanwhile: same offset, and the published end
                    // still covers them (a shrink may have un-published them while we were reading).
                    guard var subscriber = state.subscribers[id], subscriber.gone == nil, subscriber.offset == start,
                          start + Int64(bytes.count) <= state.window.end else { return false }
                    subscriber.offset += Int64(bytes.count)
                    state.subscribers[id] = subscriber
                    return true
                }
                if committed { return .lines(bytes: bytes, startOffset: start) }
            }
        }
        return .caughtUp
    }

    /// Reads complete lines in `[start, limit)` from the file for a subscriber behind the window. Nil when
    /// the file no longer holds a complete line there (it shrank while we read).
    private func catchUp(from start: Int64, limit: Int64, maxBytes: Int) throws(SystemError) -> [UInt8]? {
        let count = {
            self.catchUpReads.add(1, ordering: .relaxed)
            self.core.catchUpReads.add(1, ordering: .relaxed)
        }
        let first = Int(min(limit - start, Int64(max(maxBytes, 1))))
        var bytes = try readRange(fd: fd, start: start, count: first, onRead: count)
        if let last = LineFeedScan.lastLineFeed(in: bytes) { return Array(bytes[...last]) }
        // One line longer than maxBytes: it is returned whole, read on until its '\n'.
        var at = start + Int64(bytes.count)
        guard bytes.count == first else { return nil }
        while at < limit {
            let more = try readRange(fd: fd, start: at, count: Int(min(limit - at, 64 * 1024)), onRead: count)
            if let newline = more.firstIndex(of: 0x0A) {
                bytes.append(contentsOf: more[...newline])
                return bytes
            }
            if more.isEmpty { return nil }
            bytes.append(contentsOf: more)
            at += Int64(more.count)
        }
        return nil
    }

    // MARK: Publishing (the one reader)

    /// Looks at the file and publishes new complete lines; with `checkIdentity` also notices that the path
    /// no longer names this file (replaced, deleted, renamed away). Serialised, idempotent, cheap when
    /// nothing changed (an fstat, plus a stat with `checkIdentity`; no read).
    func refresh(checkIdentity: Bool) {
        let outcome = refreshLock.withLock { _ in refreshLocked(checkIdentity: checkIdentity) }
        if !outcome.wakes.isEmpty { core.metrics.wakeups.increment(by: outcome.wakes.count) }
        for wake in outcome.wakes { wake() }
        if outcome.ended { core.journalEnded(self) }
    }

    private func refreshLocked(checkIdentity: Bool) -> RefreshOutcome {
        var outcome = RefreshOutcome()
        let current = state.withLock { state -> (end: Int64, sync: Bool)? in
            guard state.gone == nil, state.failure == nil, !state.subscribers.isEmpty else { return nil }
            return (state.window.end, state.syncWanted > 0)
        }
        guard let current else { return outcome }

        let status: FileStatus
        do {
            status = try Sys.fstat(fd)
        } catch {
            return fail(TailerError(error, path: path))
        }
        // Decide about identity before reading, but publish what the old file holds either way: those lines
        // were written before it went, and followers are owed them (as `tail -F` prints them).
        var ending: GoneReason?
        if checkIdentity || status.linkCount == 0 {
            ending = identityCheck(status)
        }

        if status.size < current.end {
            outcome.wakes += shrink(to: status.size)
        } else if status.size > current.end {
            do {
                if let (start, bytes) = try newCompleteLines(from: current.end, to: status.size) {
                    if current.sync { try sync() }
                    outcome.wakes += publish(bytes, at: start)
                }
            } catch {
                return fail(TailerError(error, path: path))
            }
        }

        if let ending {
            core.logger.debug("followed journal is gone", metadata: ["path": "\(path)", "reason": "\(ending)"])
            outcome.wakes += state.withLock { state in
                state.gone = ending
                return takeWakes(&state) { _ in true }
            }
            outcome.ended = true
        }
        return outcome
    }

    /// Nil while `path` still names this file. ENOENT splits into deleted (no links left) and renamed away.
    private func identityCheck(_ status: FileStatus) -> GoneReason? {
        do {
            let named = try Sys.stat(path)
            return named.isSameFile(as: identity) ? nil : .replaced
        } catch {
            if error.errno == ENOENT || error.errno == ENOTDIR {
                return status.linkCount == 0 ? .deleted : .movedAway
            }
            // EACCES and the like say nothing about the file; a file without links is gone regardless.
            core.logger.debug("cannot stat followed journal path", metadata: ["path": "\(path)", "errno": "\(error.errno)"])
            return status.linkCount == 0 ? .deleted : nil
        }
    }

    /// The bytes from `end` up to the end of the last committed line before `size` (a complete line that does
    /// not carry `"more":true`: a batch is published whole or not at all), with the offset they start at.
    /// Normally one pread of `[end, size)`; a burst larger than the window is searched backwards, window by
    /// window, and only the last window's worth of lines (starting at a line start) is returned (subscribers
    /// before it catch up from the file). Nothing is cached between calls: an uncommitted tail is re-read next
    /// time, because a torn tail may be truncated and rewritten with different bytes in between.
    private func newCompleteLines(from end: Int64, to size: Int64) throws(SystemError) -> (Int64, [UInt8])? {
        let count = {
            self.sharedReads.add(1, ordering: .relaxed)
            self.core.sharedReads.add(1, ordering: .relaxed)
        }
        var chunkStart = max(end, size - Int64(core.windowBytes))
        while true {
            let bytes = try readRange(fd: fd, start: chunkStart, count: Int(size - chunkStart), onRead: count)
            let atLineStart = chunkStart == end
            let committed = bytes.withUnsafeBytes { JournalCommit.lastCommittedEnd(in: $0, startsAtLineStart: atLineStart) }
            if let committed {
                // Start at a line start: `end` itself, or just after the first '\n' in the chunk (which exists:
                // the committed line's start was found in it).
                let from = atLineStart ? 0 : (bytes.firstIndex(of: 0x0A).map { $0 + 1 } ?? 0)
                return (chunkStart + Int64(from), Array(bytes[from..<committed]))
            }
            if atLineStart { return nil }
            // The last committed line starts before this chunk (a long line, or a large batch): look further back.
            chunkStart = max(end, chunkStart - Int64(core.windowBytes))
        }
    }

    /// Durable before visible: with the store's fsync=always policy the lines must be on disk before any
    /// follower sees them. Nearly free when the writer already synced. Filesystems that cannot sync (EINVAL,
    /// EROFS) have nothing to make durable.
    private func sync() throws(SystemError) {
        do {
            try Sys.fdatasync(fd)
            core.syncs.add(1, ordering: .relaxed)
        } catch where error.errno == EINVAL || error.errno == EROFS {
            return
        }
    }

    private func publish(_ bytes: [UInt8], at start: Int64) -> [@Sendable () -> Void] {
        state.withLock { state in
            if start != state.window.end { state.window.reset(at: start) }
            state.window.append(bytes)
            let end = state.window.end
            return takeWakes(&state) { $0.offset < end }
        }
    }

    /// The file is shorter than what was published (something truncated below the published end). Nothing
    /// is published twice: the window forgets the lost bytes, subscribers at or before the new size go on
    /// from there, and those past it are told `.truncated`.
    private func shrink(to size: Int64) -> [@Sendable () -> Void] {
        core.logger.warning("followed journal shrank below its published end",
                            metadata: ["path": "\(path)", "size": "\(size)"])
        return state.withLock { state in
            state.window.truncate(to: size)
            var wakes: [@Sendable () -> Void] = []
            for (id, var subscriber) in state.subscribers where subscriber.gone == nil && subscriber.offset > size {
                subscriber.gone = .truncated
                if subscriber.armed {
                    subscriber.armed = false
                    wakes.append(subscriber.onWake)
                }
                state.subscribers[id] = subscriber
            }
            return wakes
        }
    }

    private func fail(_ error: TailerError) -> RefreshOutcome {
        core.logger.error("cannot follow journal", metadata: ["path": "\(path)", "error": "\(error)"])
        var outcome = RefreshOutcome()
        outcome.wakes = state.withLock { state in
            state.failure = error
            return takeWakes(&state) { _ in true }
        }
        outcome.ended = true
        return outcome
    }

    /// Disarms and returns the wake callbacks of the armed subscribers matching `condition`; the callbacks
    /// are run after the lock is released.
    private func takeWakes(_ state: inout State, where condition: (Subscriber) -> Bool) -> [@Sendable () -> Void] {
        var wakes: [@Sendable () -> Void] = []
        for (id, var subscriber) in state.subscribers where subscriber.armed && subscriber.gone == nil && condition(subscriber) {
            subscriber.armed = false
            wakes.append(subscriber.onWake)
            state.subscribers[id] = subscriber
        }
        return wakes
    }

    // MARK: Event sources

    func inotifyEvents(_ events: [InotifyEvent]) {
        if core.suppressFileEvents.load(ordering: .relaxed) { return }
        let mask = events.reduce(UInt32(0)) { $0 | $1.mask }
        let identityEvents = InotifyMask.attrib | InotifyMask.moveSelf | InotifyMask.deleteSelf
            | InotifyMask.ignored | InotifyMask.unmount
        refresh(checkIdentity: mask & identityEvents != 0)
    }

    func inotifyQueueOverflowed() {
        refresh(checkIdentity: true)
    }

    func inotifyWatchLost() {
        core.fallBackToPolling(self)
        refresh(checkIdentity: true)
    }

    func pollTick() {
        refresh(checkIdentity: true)
    }
}
