/// Told by the store about every append it makes, right after the append (and, with `fsync=always`, after
/// the sync that made it durable). The tailer implements it so that an append made in this process is
/// published to live streams by the appending thread at once, without waiting for inotify to wake the
/// tailer's thread, and so that the writer's group-commit sync counts for durable-before-visible instead of
/// a second `fdatasync` by the tailer. Appends by other processes still arrive through inotify.
public protocol JournalAppendObserver: AnyObject, Sendable {
    /// `path` (the journal file, identified by `inode`) now ends at `end` or later; everything before
    /// `durableEnd` is on disk (nil when this append did not sync). Called on the appending thread: it must be
    /// quick and must not append to the store.
    func journalGrew(path: String, inode: UInt64, end: Int64, durableEnd: Int64?)
}
