import RunJournal
import SystemSupport

/// The frames most recently made for each followed journal, so that when many streams follow one run the
/// lines new to all of them are framed once: the first stream to read a chunk frames it, every other stream
/// at the same offset takes the same bytes (the same array storage, so a transport writes one buffer to
/// every subscriber). Keyed by journal, incarnation and format, holding only the latest chunk: the streams of
/// a run read a new chunk one after another, so the latest one is the one they ask for.
///
/// A chunk is kept only while it can be asked for: its journal's streams say when they start and finish
/// (`follow`, `unfollow`), a journal followed by one stream keeps nothing (nobody else would ask), and the
/// chunk goes with the journal's last stream, so runs nobody watches any more cost nothing here.
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

    private struct Journal {
        var followers = 0
        var latest: (offset: Int64, count: Int, entry: Entry)?
    }

    /// Journals whose latest chunk is kept; past it every kept chunk is dropped at once (cheap, and rare: one
    /// chunk per journal that more than one stream follows).
    static let journalLimit = 256

    private let state = LockedValue<(journals: [JournalKey: Journal], chunks: Int)>(([:], 0))

    public init() {}

    /// A stream of `journal` started.
    func follow(_ journal: JournalKey) {
        state.withLock { $0.journals[journal, default: Journal()].followers += 1 }
    }

    /// A stream of `journal` finished; with the last one the journal's chunk goes.
    func unfollow(_ journal: JournalKey) {
        state.withLock { state in
            guard var followed = state.journals[journal] else { return }
            followed.followers -= 1
            if followed.followers > 0 {
                state.journals[journal] = followed
                return
            }
            if followed.latest != nil { state.chunks -= 1 }
            state.journals[journal] = nil
        }
    }

    /// Chunks kept now (one per journal at most).
    var keptChunks: Int { state.withLock { $0.chunks } }

    /// The frames made from `source` by a stream that knew `state` of the run, if they are the latest.
    func lookup(_ key: Key, source: [UInt8], state runState: RunSummary) -> Entry? {
        let found = state.withLock { state -> Entry? in
            guard let latest = state.journals[key.journal]?.latest, latest.offset == key.offset, latest.count == key.count else { return nil }
            return latest.entry
        }
        // Compared outside the lock: the entry is immutable.
        guard let found, found.stateBefore == runState, found.source == source else { return nil }
        return found
    }

    /// Whether a chunk of `journal` could be asked for by another stream (worth copying for `store`).
    func isShared(_ journal: JournalKey) -> Bool {
        state.withLock { ($0.journals[journal]?.followers ?? 0) > 1 }
    }

    func store(_ key: Key, _ entry: Entry) {
        state.withLock { state in
            guard var followed = state.journals[key.journal], followed.followers > 1 else { return }
            if followed.latest == nil {
                if state.chunks >= Self.journalLimit {
                    for journal in state.journals.keys { state.journals[journal]?.latest = nil }
                    state.chunks = 0
                }
                state.chunks += 1
            }
            followed.latest = (key.offset, key.count, entry)
            state.journals[key.journal] = followed
        }
    }
}
