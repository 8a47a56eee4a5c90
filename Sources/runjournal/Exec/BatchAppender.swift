import RunJournal
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// The one writer of `runjournal exec`'s output events: a thread that takes everything queued, appends it
/// as one batch (one write, one fsync), and repeats. A lone line waits for nothing but its own append; lines
/// that arrive while an append is under way go together in the next one, so a child printing 100,000
/// lines/s costs a few hundred fsyncs a second, not 100,000.
///
/// While the journal takes appends, a full queue makes the readers wait (the child then blocks on its pipe:
/// back-pressure, nothing lost). Once an append fails (disk full, failed journal, run ended by someone
/// else), the child is left running: the failure is reported on stderr once, the queue keeps at most
/// `maxQueuedBytes` by dropping its oldest events (counted in `dropped`), and the append is retried now and
/// then in case the journal comes back.
final class BatchAppender: @unchecked Sendable {
    private let store: JournalStore
    private let id: RunID
    private let maxQueuedBytes: Int
    private let maxBatchEvents: Int
    private let lock = ConditionLock()
    private var queue: [NewEvent] = []
    private var queuedBytes = 0
    private var closed = false
    private var running = true
    private var failing = false
    private var reported = false
    private(set) var dropped = 0

    init(store: JournalStore, id: RunID, maxQueuedBytes: Int = 8 << 20, maxBatchEvents: Int = 8192) {
        self.store = store
        self.id = id
        self.maxQueuedBytes = maxQueuedBytes
        self.maxBatchEvents = maxBatchEvents
    }

    func start() throws {
        try startDetachedThread(name: "rj-exec-append", stackSize: 256 * 1024) { [self] in run() }
    }

    /// Queues events (one read's worth of lines).
    func enqueue(_ events: [NewEvent]) {
        guard !events.isEmpty else { return }
        lock.withLock {
            while !failing && queuedBytes >= maxQueuedBytes { lock.wait() }
            for event in events {
                queue.append(event)
                queuedBytes += event.data.count + 64
            }
            if failing { dropOldestBeyondLimit() }
            lock.broadcast()
        }
    }

    /// Stops taking events once everything queued has been appended (or the journal has failed), and returns
    /// what is still queued (the caller appends it with the terminal event) and how many events were dropped.
    func close() -> (remaining: [NewEvent], dropped: Int) {
        lock.withLock {
            closed = true
            lock.broadcast()
            while running { lock.wait() }
            let remaining = queue
            queue.removeAll()
            queuedBytes = 0
            return (remaining, dropped)
        }
    }

    /// Reports a failed append once (the child keeps running: its output is what matters to the user).
    func reportFailure(_ error: any Error) {
        let first = lock.withLock { () -> Bool in
            defer { reported = true }
            return !reported
        }
        if first {
            writeStandardError(
                "runjournal: cannot append to run \(id): \(error); the command keeps running, its output is held in memory (oldest dropped beyond \(maxQueuedBytes >> 20) MiB)\n")
        }
    }

    private func run() {
        while true {
            let batch: [NewEvent]? = lock.withLock {
                while queue.isEmpty && !closed { lock.wait() }
                if closed && (queue.isEmpty || failing) {
                    running = false
                    lock.broadcast()
                    return nil
                }
                let count = min(queue.count, maxBatchEvents)
                let taken = Array(queue[..<count])
                queue.removeFirst(count)
                queuedBytes -= taken.reduce(0) { $0 + $1.data.count + 64 }
                lock.broadcast()
                return taken
            }
            guard let batch else { return }
            do {
                _ = try store.append(id, batch)
                lock.withLock { failing = false }
            } catch {
                reportFailure(error)
                lock.withLock {
                    failing = true
                    queue.insert(contentsOf: batch, at: 0)
                    queuedBytes += batch.reduce(0) { $0 + $1.data.count + 64 }
                    dropOldestBeyondLimit()
                    lock.broadcast()
                    // Retry in a second (a failed journal stays failed until repaired; ENOSPC may clear).
                    if !closed { lock.wait(untilMonotonicNanos: ConditionLock.monotonicNanos() + 1_000_000_000) }
                }
            }
        }
    }

    /// Under the lock.
    private func dropOldestBeyondLimit() {
        var drop = 0
        while queuedBytes > maxQueuedBytes && drop < queue.count {
            queuedBytes -= queue[drop].data.count + 64
            drop += 1
        }
        if drop > 0 {
            queue.removeFirst(drop)
            dropped += drop
        }
    }
}
