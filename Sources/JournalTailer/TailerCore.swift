#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import RunJournal
import Synchronization
import SystemSupport

/// Faults a test can force, the way swift-nio's syscall mocking forces an errno: inotify "unavailable"
/// (inotify_init1 failing) and the watch limit (inotify_add_watch failing with ENOSPC), without exhausting
/// the machine's real per-user limits.
struct TailerFaults: Sendable {
    /// Make obtaining the inotify instance fail with this errno.
    var inotifyInitErrno: Int32?
    /// Make adding the watch for a path fail with the returned errno (nil: add it for real).
    var addWatchErrno: @Sendable (String) -> Int32?

    /// The name the poller's thread is started under: a test that refuses that thread (`ThreadStartFaults`,
    /// which matches by name) gives its tailer a name of its own, so other tailers in the process are untouched.
    var pollerThreadName: String

    /// Called on the syncing thread before each durable-before-visible `fdatasync` of the journal at the path:
    /// may block (to hold one journal's sync while others are followed) and may return an errno, which fails
    /// the sync as if `fdatasync` had (nil: sync for real).
    var beforeSync: @Sendable (String) -> Int32?

    init(
        inotifyInitErrno: Int32? = nil, addWatchErrno: @escaping @Sendable (String) -> Int32? = { _ in nil },
        pollerThreadName: String = "rj-tail-poll", beforeSync: @escaping @Sendable (String) -> Int32? = { _ in nil }
    ) {
        self.inotifyInitErrno = inotifyInitErrno
        self.addWatchErrno = addWatchErrno
        self.pollerThreadName = pollerThreadName
        self.beforeSync = beforeSync
    }
}

/// The state behind a `JournalTailer`: the path → journal registry, the follow machinery and the counters.
/// Journals and directory watchers hold it strongly, so followers keep working even if the owner drops its
/// `JournalTailer` before cancelling them.
final class TailerCore: Sendable {
    let mode: TailerMode
    let windowBytes: Int
    let logger: Logger
    let faults: TailerFaults
    let poller: Poller
    /// Where durable-before-visible syncs run, off the thread that serves every journal.
    let syncWorkers: SyncWorkers
    let metrics = TailerMetrics()
    private let registry = LockedValue<[String: FollowedJournal]>([:])

    let sharedReads = Atomic<Int>(0)
    let catchUpReads = Atomic<Int>(0)
    let syncs = Atomic<Int>(0)
    let inotifyWatches = Atomic<Int>(0)
    let subscriptions = Atomic<Int>(0)
    let directoryWatches = Atomic<Int>(0)
    /// Test seam: drop the inotify events of journals (not overflow), to prove overflow recovery finds what
    /// the lost events would have reported.
    let suppressFileEvents = Atomic<Bool>(false)
    private let loggedInotifyUnavailable = Atomic<Bool>(false)
    private let loggedWatchLimit = Atomic<Bool>(false)

    init(mode: TailerMode, pollInterval: Duration, windowBytes: Int, logger: Logger, faults: TailerFaults) {
        precondition(windowBytes > 0, "windowBytes must be positive")
        self.mode = mode
        self.windowBytes = windowBytes
        self.logger = logger
        self.faults = faults
        syncWorkers = SyncWorkers(threadName: "rj-tail-sync", logger: logger)
        switch mode {
        case .inotify: poller = Poller(interval: pollInterval, threadName: faults.pollerThreadName)
        case .poll(let interval): poller = Poller(interval: interval, threadName: faults.pollerThreadName)
        }
    }

    // MARK: Journals

    /// An append by this process (`JournalAppendObserver`): publish what it wrote now, on the appending
    /// thread, rather than when inotify wakes the tailer's thread. Only for a journal followed under `path`
    /// that is still the file the writer wrote (same inode).
    func journalGrew(path: String, inode: UInt64, durableEnd: Int64?) {
        guard let journal = registry.withLock({ $0[path] }), journal.identity.inode == inode else { return }
        if let durableEnd { journal.noteDurable(upTo: durableEnd) }
        journal.refresh(checkIdentity: false)
    }

    func subscribe(path: String, offset: Int64, wantsSync: Bool,
                   onWake: @escaping @Sendable () -> Void) throws(TailerError) -> (FollowedJournal, UInt64) {
        guard offset >= 0 else { throw .invalidOffset(offset) }
        let named: FileStatus
        do {
            named = try Sys.stat(path)
        } catch {
            throw Self.openError(error, path: path)
        }
        guard named.isRegularFile else { throw .notARegularFile(path: path) }

        // Join the journal already followed under this path, if it is still the file the path names.
        var stale: FollowedJournal?
        let joined = registry.withLock { registry -> (FollowedJournal, UInt64)? in
            guard let journal = registry[path] else { return nil }
            if journal.identity.isSameFile(as: named),
               let id = journal.addSubscriber(offset: offset, wantsSync: wantsSync, onWake: onWake) {
                return (journal, id)
            }
            stale = journal
            return nil
        }
        // A journal whose file was replaced but whose event is not processed yet: let it find out now.
        stale?.refresh(checkIdentity: true)
        if let joined {
            subscriptions.add(1, ordering: .relaxed)
            joined.0.wakeIfPending(joined.1)
            return joined
        }

        let fd: Int32
        let status: FileStatus
        do {
            // Never through a link: the store refuses symlinked journals, and so does their reader.
            fd = try Sys.open(path, O_RDONLY)
        } catch {
            throw Self.openError(error, path: path)
        }
        do {
            status = try Sys.fstat(fd)
        } catch {
            Sys.close(fd)
            throw TailerError(error, path: path)
        }
        guard status.isRegularFile else {
            Sys.close(fd)
            throw .notARegularFile(path: path)
        }
        let fresh = FollowedJournal(path: path, fd: fd, identity: status, offset: offset, core: self)
        let (journal, id, isNew) = registry.withLock { registry -> (FollowedJournal, UInt64, Bool) in
            // Someone else may have started following the same file while we opened it.
            if let existing = registry[path], existing.identity.isSameFile(as: status),
               let id = existing.addSubscriber(offset: offset, wantsSync: wantsSync, onWake: onWake) {
                return (existing, id, false)
            }
            registry[path] = fresh
            let id = fresh.addSubscriber(offset: offset, wantsSync: wantsSync, onWake: onWake)!
            return (fresh, id, true)
        }
        subscriptions.add(1, ordering: .relaxed)
        if isNew { startFollowing(journal) }
        journal.wakeIfPending(id)
        return (journal, id)
    }

    /// `tail -F`'s order: read to the end, add the watch, read again — bytes written between the first read
    /// and the watch produce no event, so the second read is what catches them.
    private func startFollowing(_ journal: FollowedJournal) {
        journal.refresh(checkIdentity: false)
        let follow = makeFollow(path: journal.path, mask: InotifyMask.journal, target: journal, pollTarget: journal)
        if !journal.attach(follow) {
            undo(follow, for: journal)
            return
        }
        journal.refresh(checkIdentity: true)
    }

    /// Cancels subscriber `id`; the journal is released (watch removed, descriptor closed once unused) with
    /// its last subscriber. Returns the subscriber's last offset.
    func unsubscribe(_ journal: FollowedJournal, id: UInt64) -> Int64? {
        var lastOffset: Int64?
        let wasLast = registry.withLock { registry -> Bool in
            let (remaining, offset) = journal.removeSubscriber(id)
            lastOffset = offset
            guard offset != nil, remaining == 0 else { return false }
            if registry[journal.path] === journal { registry[journal.path] = nil }
            return true
        }
        if lastOffset != nil { subscriptions.add(-1, ordering: .relaxed) }
        if wasLast { undo(journal.retire(), for: journal) }
        return lastOffset
    }

    /// The journal ended (gone or failed): stop following it; its subscribers drain what was published.
    func journalEnded(_ journal: FollowedJournal) {
        registry.withLock { registry in
            if registry[journal.path] === journal { registry[journal.path] = nil }
        }
        undo(journal.retire(), for: journal)
    }

    /// The kernel dropped the journal's watch, or the inotify reader failed: poll it from now on.
    func fallBackToPolling(_ journal: FollowedJournal) {
        if let error = poller.add(journal) { logPollerUnavailable(error, path: journal.path) }
        guard let previous = journal.replaceFollow(with: .polling(poller)) else {
            poller.remove(journal)
            return
        }
        if case .polling = previous { return }
        metrics.pollFallbacks.increment()
        logger.warning("inotify watch lost; polling the journal instead", metadata: ["path": "\(journal.path)"])
        undo(previous, for: journal)
    }

    func statistics(forPath path: String) -> JournalStatistics? {
        registry.withLock { $0[path] }?.snapshot
    }

    var followedJournals: Int { registry.withLock { $0.count } }

    // MARK: Follow methods (shared with directory watches)

    /// Watches `path` with inotify when this tailer may, else schedules `pollTarget` on the poller. The
    /// fallbacks are logged once per tailer, since on a machine at its limits every journal would repeat them.
    func makeFollow(path: String, mask: UInt32, target: any InotifyTarget, pollTarget: any PollTarget) -> FollowMethod {
        guard case .inotify = mode else {
            if let error = poller.add(pollTarget) { logPollerUnavailable(error, path: path) }
            return .polling(poller)
        }
        guard let hub = obtainHub() else {
            metrics.pollFallbacks.increment()
            if let error = poller.add(pollTarget) { logPollerUnavailable(error, path: path) }
            return .polling(poller)
        }
        do throws(SystemError) {
            if let forced = faults.addWatchErrno(path) {
                throw SystemError(operation: "inotify_add_watch", errno: forced)
            }
            let registration = try hub.addWatch(path: path, mask: mask, target: target)
            inotifyWatches.add(1, ordering: .relaxed)
            return .inotify(hub, registration)
        } catch {
            if error.errno == ENOSPC {
                if !loggedWatchLimit.exchange(true, ordering: .relaxed) {
                    logger.warning("""
                        inotify watch limit reached (raise fs.inotify.max_user_watches); polling the affected \
                        journals every \(poller.interval)
                        """, metadata: ["path": "\(path)"])
                }
            } else {
                logger.warning("inotify_add_watch failed; polling instead",
                               metadata: ["path": "\(path)", "errno": "\(error.errno)"])
            }
            metrics.pollFallbacks.increment()
            if let error = poller.add(pollTarget) { logPollerUnavailable(error, path: path) }
            return .polling(poller)
        }
    }

    /// The system refused the polling thread: the target stays registered and is polled once a later `add`
    /// starts the thread (a subscription, a fallback). Logged every time: each one is a journal followed late.
    func logPollerUnavailable(_ error: ThreadStartError, path: String) {
        logger.error("cannot start the polling thread; the journal is polled once one can be started",
                     metadata: ["path": "\(path)", "errno": "\(error.errno)"])
    }

    func undo(_ follow: FollowMethod, for pollTarget: any PollTarget) {
        switch follow {
        case .none:
            break
        case .inotify(let hub, let registration):
            hub.removeWatch(registration)
            inotifyWatches.add(-1, ordering: .relaxed)
        case .polling(let poller):
            poller.remove(pollTarget)
        }
    }

    private func obtainHub() -> InotifyHub? {
        do throws(SystemError) {
            if let forced = faults.inotifyInitErrno {
                throw SystemError(operation: "inotify_init1", errno: forced)
            }
            return try InotifyHub.obtain(logger: logger)
        } catch {
            if !loggedInotifyUnavailable.exchange(true, ordering: .relaxed) {
                logger.warning("inotify unavailable; following journals by polling every \(poller.interval)",
                               metadata: ["errno": "\(error.errno)", "error": "\(String(cString: strerror(error.errno)))"])
            }
            return nil
        }
    }

    static func openError(_ error: SystemError, path: String) -> TailerError {
        error.errno == ENOENT || error.errno == ENOTDIR ? .notFound(path: path) : TailerError(error, path: path)
    }
}
