#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import RunJournal
import SystemSupport

/// How a tailer learns that files changed.
public enum TailerMode: Sendable, Equatable {
    /// inotify events (the process's one inotify instance), falling back to polling per journal where inotify
    /// cannot be used (no instance, watch limit reached).
    case inotify
    /// Poll every journal and directory at `interval`: an fstat (and a stat of the path) per tick, a read only
    /// when the file grew. The 0.25 s polling baseline benchmarks compare inotify against.
    case poll(interval: Duration)
}

/// The process-wide follower of journal files: wakes subscribers when a journal grows, is replaced or is
/// deleted, and fans its new bytes out to any number of them.
///
/// Why it exists: 1,000 SSE streams following one run must not mean 1,000 readers of one file. Per journal
/// there is one open descriptor and one reader that reads each change once; subscribers take the bytes from a
/// bounded in-memory window (`windowBytes`, 1 MiB by default), and one that falls behind the window catches up
/// from the file at its own offset without holding the others back. Only complete lines are published — bytes
/// up to the last '\n' — because a crashed writer may leave a torn tail that the store's next append truncates.
///
/// Change detection uses the process's single inotify instance (instances are limited per user, 128 by
/// default), one watch per followed journal, reference-counted and removed with its last subscriber, read by
/// one background thread. Where inotify cannot be used it polls at `pollInterval` and logs that once. inotify
/// reports only changes made through this machine's kernel: on network filesystems (NFS, CIFS) and for writes
/// made by other machines to shared storage no events arrive, and overlay filesystems report only writes made
/// through the overlay. Run such deployments with `.poll(interval:)`.
///
/// The server owns one instance for its lifetime (it is not a global); tests create as many as they like —
/// they all share the one inotify instance.
public final class JournalTailer: JournalAppendObserver, Sendable {
    let core: TailerCore

    /// - Parameters:
    ///   - mode: `.inotify` (default) or `.poll(interval:)` to poll everything.
    ///   - pollInterval: how often journals are polled when inotify cannot be used for them.
    ///   - windowBytes: how many recent published bytes each journal keeps in memory for its subscribers.
    ///   - logger: where fallbacks, overflows and failures are reported.
    public convenience init(mode: TailerMode = .inotify, pollInterval: Duration = .milliseconds(250),
                            windowBytes: Int = 1 << 20, logger: Logger) {
        self.init(mode: mode, pollInterval: pollInterval, windowBytes: windowBytes, logger: logger, faults: TailerFaults())
    }

    /// With forced faults, for tests.
    init(mode: TailerMode = .inotify, pollInterval: Duration = .milliseconds(250), windowBytes: Int = 1 << 20,
         logger: Logger, faults: TailerFaults) {
        core = TailerCore(mode: mode, pollInterval: pollInterval, windowBytes: windowBytes, logger: logger, faults: faults)
    }

    public var mode: TailerMode { core.mode }

    /// Follows the journal at `path` from `offset`, which must be at a line boundary (0, or just after a '\n'):
    /// typically the end offset of the replay the caller just did.
    ///
    /// `onWake` is called — from the tailer's thread, or from this call when bytes beyond `offset` are already
    /// published — when the journal has complete lines beyond what this subscriber consumed, or has ended. It
    /// must be cheap and must not block (signal a condition variable). It is re-armed by each `read`.
    ///
    /// With `syncBeforePublish` (for the store's fsync=always policy) newly seen bytes are published only after
    /// an fdatasync of the journal, so no follower sees a line that is not yet durable. The sync runs on a sync
    /// worker, not on the thread that serves every journal, so a slow sync delays only this journal. A failed
    /// sync ends the journal's follow with `.io` (operation "fdatasync"); it is not retried.
    ///
    /// Throws `.notFound` when nothing is at `path`, `.notARegularFile`, `.invalidOffset`, or `.io`.
    public func subscribe(path: String, from offset: Int64, syncBeforePublish: Bool = false,
                          onWake: @escaping @Sendable () -> Void) throws(TailerError) -> JournalSubscription {
        let (journal, id) = try core.subscribe(path: path, offset: offset, wantsSync: syncBeforePublish, onWake: onWake)
        return JournalSubscription(path: path, journal: journal, id: id, core: core)
    }

    /// Publishes an append this process just made (see `JournalAppendObserver`; `serve` registers the tailer
    /// with its store). The appending thread reads and publishes the new lines itself, and with the store's
    /// `fsync=always` the writer's sync stands for the tailer's: a line is published without a second
    /// `fdatasync`. Appends from other processes (the CLI) still arrive through inotify or polling.
    public func journalGrew(path: String, inode: UInt64, end: Int64, durableEnd: Int64?) {
        core.journalGrew(path: path, inode: inode, durableEnd: durableEnd)
    }

    /// Reports entries appearing in and disappearing from the directory at `path` (for `tail -f --all`, which
    /// must notice journals created after it started). `onChange` runs on the tailer's thread and must be
    /// cheap. To miss nothing, list the directory after this returns (not before) and treat names reported
    /// by both as one.
    ///
    /// Throws `.notFound`, `.notADirectory` or `.io`.
    public func watchDirectory(path: String,
                               onChange: @escaping @Sendable (DirectoryChange) -> Void) throws(TailerError) -> DirectoryWatch {
        let status: FileStatus
        do {
            status = try Sys.stat(path)
        } catch {
            throw TailerCore.openError(error, path: path)
        }
        guard status.isDirectory else { throw .notADirectory(path: path) }
        let watcher = DirectoryWatcher(path: path, identity: status, core: core, onChange: onChange)
        watcher.start()
        return DirectoryWatch(path: path, watcher: watcher)
    }

    /// Counters for tests, benchmarks and diagnostics.
    public var statistics: TailerStatistics {
        TailerStatistics(
            followedJournals: core.followedJournals,
            subscriptions: core.subscriptions.load(ordering: .relaxed),
            directoryWatches: core.directoryWatches.load(ordering: .relaxed),
            inotifyWatches: core.inotifyWatches.load(ordering: .relaxed),
            polledTargets: core.poller.count,
            sharedReads: core.sharedReads.load(ordering: .relaxed),
            catchUpReads: core.catchUpReads.load(ordering: .relaxed),
            syncs: core.syncs.load(ordering: .relaxed)
        )
    }

    /// Counters of the journal currently followed under `path`, or nil when none is.
    public func statistics(forPath path: String) -> JournalStatistics? {
        core.statistics(forPath: path)
    }

    /// How many inotify instances this process has created: one, however many tailers and subscriptions.
    public static var inotifyInstancesCreated: Int {
        InotifyHub.instancesCreated.load(ordering: .relaxed)
    }

    /// Test seam: behave as if the kernel reported IN_Q_OVERFLOW (every follower of the process re-checks).
    func injectQueueOverflow() {
        InotifyHub.existing?.injectQueueOverflow()
    }
}

/// A tailer's counters. The read counters count `pread` calls, which is what "the file is read once per
/// change, not once per subscriber" and "idle subscribers cost nothing" are measured in.
public struct TailerStatistics: Sendable, Equatable {
    /// Journals with at least one subscriber.
    public var followedJournals: Int
    public var subscriptions: Int
    public var directoryWatches: Int
    /// inotify watch registrations this tailer holds (one per followed journal or watched directory).
    public var inotifyWatches: Int
    /// Journals and directories being polled (all of them in `.poll` mode; fallbacks in `.inotify` mode).
    public var polledTargets: Int
    /// `pread` calls by the shared per-journal readers.
    public var sharedReads: Int
    /// `pread` calls by subscribers that fell behind the window and caught up from the file.
    public var catchUpReads: Int
    /// fdatasync calls made before publishing (subscriptions with `syncBeforePublish`).
    public var syncs: Int
}

/// One followed journal's counters (see `JournalTailer.statistics(forPath:)`).
public struct JournalStatistics: Sendable, Equatable {
    /// How the journal is followed right now.
    public enum FollowKind: Sendable, Equatable {
        case inotify, polling, none
    }
    public var subscriptions: Int
    /// File offset just after the last published complete line.
    public var publishedEnd: Int64
    /// File offset of the oldest byte still in the in-memory window.
    public var windowStart: Int64
    public var sharedReads: Int
    public var catchUpReads: Int
    public var followedBy: FollowKind
}
