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
/// subscribing thread for the first read): it measures the file, reads only the bytes past what it read
/// before, keeps them up to the last committed line, appends them to the window and wakes the subscribers
/// that have something new. When a subscriber asked for durable-before-visible, the lines are not published
/// there: they wait in `unsynced` for a round on a sync worker (`SyncWorkers`), which fdatasyncs and then
/// publishes them, so the tailer's thread goes on with the other journals meanwhile. Subscribers read under
/// `state`'s lock, which is never held across I/O, so a slow subscriber or a slow disk does not block the
/// others.
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
        /// Everything before this offset is on disk, as the in-process writer's own sync reported
        /// (`noteDurable`): lines before it need no sync of ours to be published.
        var durableEnd: Int64 = 0
        /// Committed lines read but not yet published, waiting for a sync round, in file order.
        var unsynced: [(start: Int64, bytes: [UInt8])] = []
        /// The end of the lines read but not published yet (waiting or in a round's sync); nil when all
        /// read lines are published. The next read starts here.
        var unpublishedEnd: Int64?
        /// Queued for or in a sync round: newly read lines go to `unsynced` behind the ones being synced,
        /// never straight to the window, so lines are published in file order.
        var syncScheduled = false
        /// A sync round has taken waiting lines and has not published them yet: lines behind them must wait.
        var roundInFlight = false
        /// Bumped when unpublished lines are dropped (the file shrank below them, or the journal failed): a
        /// round whose sync was under way then publishes nothing.
        var unsyncedGeneration = 0
        /// The file went (deleted, replaced) while lines still waited for their sync: the subscribers are
        /// told once those lines are published.
        var deferredEnding: GoneReason?
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
            return (state.unpublishedEnd ?? state.window.end, state.syncWanted > 0)
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

        var end = current.end
        if status.size < end {
            outcome.wakes += shrink(to: status.size)
            end = state.withLock { $0.window.end }
        }
        if status.size > end {
            do {
                if let (start, bytes) = try newCompleteLines(from: end, to: status.size) {
                    switch handOff(bytes, at: start, sync: current.sync) {
                    case .published(let wakes):
                        outcome.wakes += wakes
                    case .waitingForSync(let newRound):
                        // No worker could take the round: sync here, as the only way left to publish.
                        if newRound && !core.syncWorkers.submit(self) {
                            let round = syncRound()
                            outcome.wakes += round.wakes
                            if round.ended { return RefreshOutcome(wakes: outcome.wakes, ended: true) }
                        }
                    }
                }
            } catch {
                return fail(TailerError(error, path: path))
            }
        }

        if let ending {
            core.logger.debug("followed journal is gone", metadata: ["path": "\(path)", "reason": "\(ending)"])
            let endsNow = state.withLock { state -> Bool in
                // Lines waiting for their sync were written before the file went: they are published first.
                if state.syncScheduled {
                    state.deferredEnding = ending
                    return false
                }
                state.gone = ending
                outcome.wakes += takeWakes(&state) { _ in true }
                return true
            }
            if endsNow { outcome.ended = true }
        }
        return outcome
    }

    private enum HandOff {
        case published([@Sendable () -> Void])
        /// The lines wait for a sync round; `newRound` when this call scheduled it (the caller queues it).
        case waitingForSync(newRound: Bool)
    }

    /// Publishes newly read lines at once, or (when a subscriber wants them durable first, or earlier lines
    /// still wait for their sync) adds them to the lines waiting for the next sync round.
    private func handOff(_ bytes: [UInt8], at start: Int64, sync: Bool) -> HandOff {
        state.withLock { state in
            // Lines the writer's own sync already covers go out at once (unless earlier lines still wait).
            let alreadyDurable = start + Int64(bytes.count) <= state.durableEnd
            guard (sync && !alreadyDurable) || state.syncScheduled else {
                return .published(publish(bytes, at: start, in: &state))
            }
            state.unsynced.append((start, bytes))
            state.unpublishedEnd = start + Int64(bytes.count)
            if state.syncScheduled { return .waitingForSync(newRound: false) }
            state.syncScheduled = true
            return .waitingForSync(newRound: true)
        }
    }

    /// The in-process writer synced everything before `end` (`JournalAppendObserver`). Lines that wait for a
    /// sync round and that this covers are published now, instead of after a second sync: the tailer's thread
    /// often reads a line between the writer's write(2) and the end of its sync. Not while a round holds
    /// earlier lines (they are published first, in file order); the queued round then finds nothing to sync.
    func noteDurable(upTo end: Int64) {
        let wakes = state.withLock { state -> [@Sendable () -> Void] in
            state.durableEnd = max(state.durableEnd, end)
            guard state.syncScheduled, !state.roundInFlight, state.failure == nil, state.gone == nil,
                  let last = state.unsynced.last, last.start + Int64(last.bytes.count) <= state.durableEnd else { return [] }
            var wakes: [@Sendable () -> Void] = []
            for line in state.unsynced { wakes += publish(line.bytes, at: line.start, in: &state) }
            state.unsynced = []
            state.unpublishedEnd = nil
            return wakes
        }
        if !wakes.isEmpty { core.metrics.wakeups.increment(by: wakes.count) }
        for wake in wakes { wake() }
    }

    // MARK: Sync rounds (on a sync worker)

    /// One sync round, on a sync worker: takes the lines waiting for their sync, fdatasyncs, publishes them
    /// and wakes their subscribers; queues another round when more lines arrived meanwhile.
    func runSyncRound() {
        let round = syncRound()
        if !round.wakes.isEmpty { core.metrics.wakeups.increment(by: round.wakes.count) }
        for wake in round.wakes { wake() }
        if round.ended { core.journalEnded(self) }
        if round.again { core.syncWorkers.requeue(self) }
    }

    private struct SyncRound {
        var wakes: [@Sendable () -> Void] = []
        var ended = false
        /// More lines arrived during the sync: another round is due (the journal stays scheduled).
        var again = false
    }

    /// Syncs and publishes the lines waiting now. A failed sync fails the journal: its lines are never
    /// published, and the sync is not retried (after a failed fdatasync the kernel may have dropped the
    /// dirty pages, so a later success would prove nothing; docs/reliability.md).
    private func syncRound() -> SyncRound {
        var round = SyncRound()
        let taken = state.withLock { state -> (lines: [(start: Int64, bytes: [UInt8])], generation: Int, durable: Bool)? in
            guard state.failure == nil, state.gone == nil, !state.unsynced.isEmpty else {
                // Nothing left to sync (dropped by a shrink, or the journal ended).
                endRound(&state, &round)
                return nil
            }
            defer {
                state.unsynced = []
                state.roundInFlight = true
            }
            let end = state.unsynced.last.map { $0.start + Int64($0.bytes.count) } ?? 0
            return (state.unsynced, state.unsyncedGeneration, end <= state.durableEnd)
        }
        guard let taken else { return round }
        do {
            // The writer's group-commit sync already covered these lines: a second fdatasync adds nothing.
            if !taken.durable { try sync() }
        } catch {
            let failed = fail(TailerError(error, path: path))
            state.withLock {
                $0.syncScheduled = false
                $0.roundInFlight = false
            }
            round.wakes = failed.wakes
            round.ended = failed.ended
            return round
        }
        state.withLock { state in
            state.roundInFlight = false
            if state.unsyncedGeneration == taken.generation, state.failure == nil, state.gone == nil {
                for line in taken.lines { round.wakes += publish(line.bytes, at: line.start, in: &state) }
            }
            if state.unsynced.isEmpty {
                endRound(&state, &round)
            } else {
                round.again = true
            }
        }
        return round
    }

    /// Nothing waits for a sync any more: new lines may be published directly again, and an ending noticed
    /// while lines waited is told now that they are published.
    private func endRound(_ state: inout State, _ round: inout SyncRound) {
        state.syncScheduled = false
        state.unpublishedEnd = nil
        if let ending = state.deferredEnding, state.gone == nil, state.failure == nil {
            state.gone = ending
            round.wakes += takeWakes(&state) { _ in true }
            round.ended = true
        }
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
        if let forced = core.faults.beforeSync(path) {
            throw SystemError(operation: "fdatasync", path: path, errno: forced)
        }
        do {
            try Sys.fdatasync(fd)
            core.syncs.add(1, ordering: .relaxed)
        } catch where error.errno == EINVAL || error.errno == EROFS {
            return
        }
    }

    private func publish(_ bytes: [UInt8], at start: Int64, in state: inout State) -> [@Sendable () -> Void] {
        if start != state.window.end { state.window.reset(at: start) }
        state.window.append(bytes)
        let end = state.window.end
        return takeWakes(&state) { $0.offset < end }
    }

    /// The file is shorter than what was read from it (something truncated it). Lines read but not published
    /// yet are forgotten (read again if the file still holds them). Below the published end nothing is
    /// published twice: the window forgets the lost bytes, subscribers at or before the new size go on from
    /// there, and those past it are told `.truncated`.
    private func shrink(to size: Int64) -> [@Sendable () -> Void] {
        let (belowPublished, wakes) = state.withLock { state -> (Bool, [@Sendable () -> Void]) in
            if let unpublished = state.unpublishedEnd, size < unpublished { dropUnpublished(&state) }
            guard size < state.window.end else { return (false, []) }
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
            return (true, wakes)
        }
        if belowPublished {
            core.logger.warning("followed journal shrank below its published end",
                                metadata: ["path": "\(path)", "size": "\(size)"])
        }
        return wakes
    }

    private func fail(_ error: TailerError) -> RefreshOutcome {
        core.logger.error("cannot follow journal", metadata: ["path": "\(path)", "error": "\(error)"])
        var outcome = RefreshOutcome()
        outcome.wakes = state.withLock { state in
            state.failure = error
            dropUnpublished(&state)
            return takeWakes(&state) { _ in true }
        }
        outcome.ended = true
        return outcome
    }

    /// Forgets the lines read but not published (the file no longer holds them, or the journal failed); a
    /// sync under way for them publishes nothing.
    private func dropUnpublished(_ state: inout State) {
        state.unsynced = []
        state.unpublishedEnd = nil
        state.unsyncedGeneration += 1
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
