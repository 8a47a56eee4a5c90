import Logging
import SystemSupport

/// The threads that run the tailer's durable-before-visible `fdatasync`s, so they never run on the thread that
/// serves every journal's events: one slow disk (or one journal on it) must not delay the live delivery of all
/// the other runs.
///
/// A journal with newly read lines to sync is queued once (`FollowedJournal.syncScheduled`); lines read while
/// it waits or syncs are added to its batch and synced in the next round, so a busy journal costs one sync per
/// round, not one per change. Workers start on demand, up to `maxThreads` (a journal blocked on a stuck disk
/// keeps one; the others go on with the rest), and exit after `linger` without work, so an idle tailer holds
/// no sync thread. When no worker can be started (the process is out of threads) the caller syncs on its own
/// thread, as before there were workers: slower for everyone, but nothing is published unsynced.
final class SyncWorkers: @unchecked Sendable {
    // Guarded by `lock` (hence @unchecked Sendable).
    private let lock = ConditionLock()
    private var queue: [FollowedJournal] = []
    private var threads = 0
    private var idle = 0

    private let maxThreads: Int
    private let linger: Duration
    private let threadName: String
    private let logger: Logger

    init(maxThreads: Int = 4, linger: Duration = .milliseconds(250), threadName: String, logger: Logger) {
        precondition(maxThreads > 0, "at least one sync worker")
        self.maxThreads = maxThreads
        self.linger = linger
        self.threadName = threadName
        self.logger = logger
    }

    /// Queues `journal` for a sync round. False when it could not be queued because no worker runs or can be
    /// started: the caller then runs the round itself.
    func submit(_ journal: FollowedJournal) -> Bool {
        let mustStart = lock.withLock { () -> Bool in
            queue.append(journal)
            if idle > 0 {
                lock.broadcast()
                return false
            }
            guard threads < maxThreads else { return false }  // a busy worker takes it next
            threads += 1
            return true
        }
        guard mustStart else { return true }
        do {
            try startDetachedThread(name: threadName, stackSize: 128 * 1024) { self.run() }
            return true
        } catch {
            return lock.withLock { () -> Bool in
                threads -= 1
                guard threads == 0, let index = queue.firstIndex(where: { $0 === journal }) else { return true }
                queue.remove(at: index)
                logger.warning("cannot start a sync worker; syncing on the tailer's thread",
                               metadata: ["errno": "\(error.errno)"])
                return false
            }
        }
    }

    /// Puts back a journal whose round left lines behind, at the end of the queue (after the journals that
    /// waited meanwhile). Called by a worker, which is alive to take it.
    func requeue(_ journal: FollowedJournal) {
        lock.withLock {
            queue.append(journal)
            if idle > 0 { lock.broadcast() }
        }
    }

    private func run() {
        lock.lock()
        while true {
            if !queue.isEmpty {
                let journal = queue.removeFirst()
                lock.unlock()
                journal.runSyncRound()
                lock.lock()
                continue
            }
            idle += 1
            let deadline = MonotonicTime.now() + linger
            while queue.isEmpty, MonotonicTime.now() < deadline { lock.wait(until: deadline) }
            idle -= 1
            if queue.isEmpty {
                threads -= 1
                lock.unlock()
                return
            }
        }
    }
}
