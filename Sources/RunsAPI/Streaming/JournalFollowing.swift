/// What a live stream needs from the tailer: "tell me when this journal has more complete lines, and give
/// them to me". A protocol so the stream logic is unit-testable without inotify and so the live phase can
/// later be driven by one event loop instead of a thread per stream.
public protocol JournalFollowing: Sendable {
    /// Follows the journal at `path` from byte `offset` (a line start). `onWake` is called (from any thread,
    /// must not block) whenever new complete lines are available or the journal is gone.
    func follow(path: String, from offset: Int64, onWake: @escaping @Sendable () -> Void) throws -> any JournalFollow
}

/// One stream's position in a followed journal.
public protocol JournalFollow: AnyObject, Sendable {
    /// Complete lines after the current position (at most about `maxBytes`), advancing past them.
    func read(maxBytes: Int) -> FollowRead
    /// Stops following; idempotent.
    func cancel()
}

/// What `JournalFollow.read` found.
public enum FollowRead: Sendable {
    /// Complete lines (each ending in `\n`) starting at file offset `offset`.
    case lines([UInt8], offset: Int64)
    /// Nothing new yet.
    case caughtUp
    /// The journal was deleted, renamed away or replaced: the stream ends.
    case gone
}
