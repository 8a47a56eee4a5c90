import RunJournal
import SystemSupport

/// The frames most recently made for each followed journal, so that when many streams follow one run the
/// lines new to all of them are framed once: the first stream to read a chunk frames it, every other stream
/// at the same offset takes the same bytes (the same array storage, so a transport writes one buffer to
/// every subscriber). Keyed by journal, incarnation and format, holding only the latest chunk: the streams of
/// a run read a new chunk one after another, so the latest one is the one they ask for.
///
/// A key alone does not prove the frames are this stream's: a run deleted and created again under its id
/// within the same millisecond has the same path and incarnation, and its lines can sit at the same offsets
/// with the same lengths. So an entry keeps the chunk it was made from and the stream state it was made in,
/// and is given only to a stream that read the same bytes in the same state (a compare, far cheaper than
/// framing).
public final class SharedFrames: Sendable {
    struct Key: Hashable {
        let path: String
        let incarnation: [UInt8]
        let format: StreamFormat
        let offset: Int64
        let count: Int

        var journal: JournalKey { JournalKey(path: path, incarnation: incarnation, format: format) }
    }

    struct JournalKey: Hashable {
        let path: String
        let incarnation: [UInt8]
        let format: StreamFormat
    }

    struct Entry {
        /// The journal bytes the frames were made from, and what the stream knew of the run before them.
        let source: [UInt8]
        let stateBefore: RunSummary
        let frames: [UInt8]
        let frameCount: Int
        /// What a stream knows of the run after these frames.
        let state: RunSummary
        let terminal: Bool
    }

    /// Journals whose latest chunk is kept; past it everything is dropped at once (cheap, and rare: one
    /// entry per followed journal).
    static let journalLimit = 256

    private let latest = LockedValue<[JournalKey: (offset: Int64, count: Int, entry: Entry)]>([:])

    public init() {}

    /// The frames made from `source` by a stream that knew `state` of the run, if they are the latest.
    func lookup(_ key: Key, source: [UInt8], state: RunSummary) -> Entry? {
        let found = latest.withLock { latest -> Entry? in
            guard let found = latest[key.journal], found.offset == key.offset, found.count == key.count else { return nil }
            return found.entry
        }
        // Compared outside the lock: the entry is immutable.
        guard let found, found.stateBefore == state, found.source == source else { return nil }
        return found
    }

    func store(_ key: Key, _ entry: Entry) {
        latest.withLock { latest in
            if latest.count >= Self.journalLimit && latest[key.journal] == nil { latest.removeAll() }
            latest[key.journal] = (key.offset, key.count, entry)
        }
    }
}
