import JournalTailer
import RunJournal

/// Follows journals through the process's one `JournalTailer` (inotify, with poll fallback): the production
/// `JournalFollowing`. One reader per journal reads new bytes once; every stream of the run copies them from
/// the tailer's shared window.
public struct TailerFollower: JournalFollowing {
    public let tailer: JournalTailer
    /// Sync before publishing new bytes (with fsync=always: durable before visible).
    public let syncBeforePublish: Bool

    public init(tailer: JournalTailer, syncBeforePublish: Bool) {
        self.tailer = tailer
        self.syncBeforePublish = syncBeforePublish
    }

    public func follow(path: String, from offset: Int64, onWake: @escaping @Sendable () -> Void) throws -> any JournalFollow {
        do {
            return Subscription(try tailer.subscribe(path: path, from: offset, syncBeforePublish: syncBeforePublish, onWake: onWake))
        } catch .notFound {
            return GoneFollow()
        }
    }

    final class Subscription: JournalFollow {
        let subscription: JournalSubscription
        init(_ subscription: JournalSubscription) { self.subscription = subscription }

        func read(maxBytes: Int) -> FollowRead {
            do {
                switch try subscription.read(maxBytes: maxBytes) {
                case .lines(let bytes, let startOffset): return .lines(bytes, offset: startOffset)
                case .caughtUp: return .caughtUp
                case .gone: return .gone
                }
            } catch {
                // Cancelled, or the journal can no longer be read: either way this stream is over.
                return .gone
            }
        }

        func cancel() { subscription.cancel() }
    }

    /// The journal vanished between replay and follow: the stream ends at once.
    final class GoneFollow: JournalFollow {
        func read(maxBytes: Int) -> FollowRead { .gone }
        func cancel() {}
    }
}
