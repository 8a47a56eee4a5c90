import RunJournal
import Synchronization
import SystemSupport

/// Why a followed journal ended for a subscriber. The stream layer ends the stream (the run's file is no
/// longer what the subscriber was following); a new subscription follows whatever the path names now.
public enum GoneReason: String, Sendable, Equatable, CustomStringConvertible {
    /// The file was unlinked (its link count dropped to zero) and nothing exists at the path.
    case deleted
    /// The file was renamed away: it still exists under another name, nothing is at the path.
    case movedAway
    /// Another file now has the path (a new file renamed over it, or deleted and re-created).
    case replaced
    /// The file shrank below this subscriber's offset: bytes it already received no longer exist.
    case truncated

    public var description: String { rawValue }
}

/// The result of one `JournalSubscription.read`.
public enum TailRead: Sendable, Equatable {
    /// Complete lines (every one ends with '\n') starting at file offset `startOffset`; the subscription's
    /// offset has moved to `startOffset + bytes.count`.
    case lines(bytes: [UInt8], startOffset: Int64)
    /// Nothing complete beyond the subscriber's offset yet: wait for `onWake`.
    case caughtUp
    /// Everything published before the end has been delivered; nothing more will come.
    case gone(GoneReason)
}

/// One follower of one journal, created by `JournalTailer.subscribe`. It exists so a stream can pull the
/// journal's new complete lines at its own pace, without a thread of its own and without re-reading the file
/// while it keeps up: the tailer's one reader per journal publishes each change once, and `read` copies
/// from that shared window (or, when this subscriber fell behind the window, reads the file at its offset).
///
/// The live-phase contract (the same for a thread per stream or a future event loop): wait for `onWake`
/// (or a heartbeat timeout), then call `read` until it returns `.caughtUp` or `.gone`. `onWake` fires at
/// most once per `read` — it is re-armed by each `read` — so record it (set a flag, signal a condition)
/// rather than assuming you are waiting when it comes. Call `cancel()` when the stream ends.
public final class JournalSubscription: Sendable {
    /// The path this subscription follows, as given to `subscribe`.
    public let path: String
    private let id: UInt64
    private let core: TailerCore
    /// Dropped on cancel, so the journal's descriptor closes as soon as no subscriber and no in-flight read
    /// holds it.
    private let journal: LockedValue<FollowedJournal?>
    private let finalOffset = Atomic<Int64>(-1)

    init(path: String, journal: FollowedJournal, id: UInt64, core: TailerCore) {
        self.path = path
        self.id = id
        self.core = core
        self.journal = LockedValue(journal)
    }

    deinit {
        cancel()
    }

    /// The file offset of the next byte this subscriber will receive.
    public var offset: Int64 {
        if let journal = journal.withLock({ $0 }), let offset = journal.offset(of: id) { return offset }
        return finalOffset.load(ordering: .relaxed)
    }

    /// The next complete lines after `offset`: at most `maxBytes` of them, or one line whole when it alone is
    /// longer. Never blocks on other subscribers; reads the file only when this subscriber is behind the
    /// shared window. Throws `TailerError.cancelled` after `cancel()`, or the error that stopped the journal
    /// from being followed (after the lines published before it).
    public func read(maxBytes: Int = 64 * 1024) throws(TailerError) -> TailRead {
        guard let journal = journal.withLock({ $0 }) else { throw .cancelled }
        return try journal.read(subscriber: id, maxBytes: maxBytes)
    }

    /// Stops following; with the last subscriber of a journal its watch is removed and its descriptor closed.
    /// Idempotent. `onWake` may still run once if it was already being called.
    public func cancel() {
        guard let journal = journal.withLock({ slot -> FollowedJournal? in
            guard let journal = slot else { return nil }
            // Recorded before the slot empties, so `offset` never reads as unknown in between.
            if let offset = journal.offset(of: id) { finalOffset.store(offset, ordering: .relaxed) }
            slot = nil
            return journal
        }) else { return }
        if let last = core.unsubscribe(journal, id: id) {
            finalOffset.store(last, ordering: .relaxed)
        }
    }
}
