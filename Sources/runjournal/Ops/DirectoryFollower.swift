import JournalTailer
import Logging
import RunJournal
import SystemSupport

/// `runjournal tail -f --all`: follows every run of a journal directory, the ones that start later included,
/// printing each line after its run id, until SIGINT/SIGTERM.
///
/// Runs that exist at start are followed from their end (only what happens next is printed; a run that has
/// already ended is not followed at all); runs that appear later are printed from their first line. The
/// directory watch starts before the directory is listed, so a run created in between is seen by both and
/// counted as new — nothing slips through the gap. Everything runs on the calling thread: the tailer's
/// callbacks only record what changed and raise one `WakeSignal`.
final class DirectoryFollower {
    fileprivate struct Pending {
        var appeared: [String] = []
        var removed: [String] = []
        var dirty: Set<RunID> = []
        var rescan = false
        var directoryGone = false
    }

    /// What the tailer's callbacks hand to the loop: a shareable box, because the callbacks run on the
    /// tailer's thread and must not capture the (single-threaded) follower itself.
    private final class Inbox: Sendable {
        let state = LockedValue(Pending())
        let wake = WakeSignal()

        func post(_ change: (inout Pending) -> Void) {
            state.withLock { change(&$0) }
            wake.raise()
        }
    }

    private struct Followed {
        var subscription: JournalSubscription
        var renderer: EventRenderer
        var path: String
    }

    let directory: String
    let format: EventFormat
    let terminal: Terminal
    private let inbox = Inbox()
    private var followed: [RunID: Followed] = [:]
    /// Runs that ended (or were already over at start): not followed again unless their journal is replaced.
    private var finished: Set<RunID> = []
    private var output = OutputBuffer()
    private var idWidth = 0
    private var seqDigits = 3
    private var tailer: JournalTailer?

    init(directory: String, format: EventFormat, terminal: Terminal) {
        self.directory = directory
        self.format = format
        self.terminal = terminal
    }

    func run() throws {
        let interrupts = try Interrupts.start(wake: inbox.wake)
        let tailer = JournalTailer(mode: .inotify, logger: Logger(label: "runjournal.tail"))
        self.tailer = tailer
        let watch: DirectoryWatch
        do {
            watch = try tailer.watchDirectory(path: directory) { [inbox] change in
                inbox.post { state in
                    switch change {
                    case .appeared(let name): state.appeared.append(name)
                    case .removed(let name): state.removed.append(name)
                    case .rescanNeeded: state.rescan = true
                    case .directoryGone: state.directoryGone = true
                    }
                }
            }
        } catch {
            throw CLIFailure("cannot watch journal directory \(directory): \(error)")
        }
        defer {
            watch.cancel()
            for entry in followed.values { entry.subscription.cancel() }
        }

        // Listed after the watch started: a name also reported as appeared is a new run, printed whole.
        let existing = try RunCatalog(directory: directory).runIDs()
        let appearedEarly = Set(inbox.state.withLock { state -> [String] in
            defer { state.appeared.removeAll() }
            return state.appeared
        })
        idWidth = existing.map(\.rawValue.utf8.count).max() ?? 0
        var starts: [(RunID, Int64)] = []
        var maxSeq: Int64 = 0
        for id in existing {
            if appearedEarly.contains(id.rawValue + ".jsonl") {
                starts.append((id, 0))
                continue
            }
            guard let journal = try? OpenJournal(path: path(of: id), id: id), let tail = try? JournalTail.read(journal) else {
                continue  // deleted meanwhile, or unreadable: verify's business, not tail's
            }
            if tail.lastKind == .terminal {
                finished.insert(id)
            } else {
                starts.append((id, tail.endOffset))
                maxSeq = max(maxSeq, tail.lastSeq)
            }
        }
        seqDigits = max(3, EventRenderer.digits(maxSeq))
        for (id, offset) in starts { startFollowing(id, from: offset) }
        for name in appearedEarly { noticeAppeared(name) }
        try output.flush()

        while true {
            inbox.wake.waitAndLower()
            let changes = inbox.state.withLock { state -> Pending in
                defer { state = Pending() }
                return state
            }
            if changes.directoryGone {
                try output.flush()
                throw CLIFailure("journal directory \(directory) was removed")
            }
            for name in changes.removed {
                if let id = Self.runID(fromFileName: name) { finished.remove(id) }
            }
            for name in changes.appeared { noticeAppeared(name) }
            if changes.rescan {
                for id in (try? RunCatalog(directory: directory).runIDs()) ?? [] where followed[id] == nil && !finished.contains(id) {
                    startFollowing(id, from: 0)
                }
            }
            for id in changes.dirty { try drain(id) }
            try output.flush()
            if interrupts.signal != nil { return }
        }
    }

    private func path(of id: RunID) -> String { directory + "/" + id.rawValue + ".jsonl" }

    static func runID(fromFileName name: String) -> RunID? {
        guard name.hasSuffix(".jsonl") else { return nil }
        return try? RunID(String(name.dropLast(6)))
    }

    private func noticeAppeared(_ name: String) {
        guard let id = Self.runID(fromFileName: name), followed[id] == nil else { return }
        finished.remove(id)
        startFollowing(id, from: 0)
    }

    private func startFollowing(_ id: RunID, from offset: Int64) {
        guard let tailer else { return }
        let subscription: JournalSubscription
        do {
            subscription = try tailer.subscribe(path: path(of: id), from: offset) { [inbox] in
                inbox.post { _ = $0.dirty.insert(id) }
            }
        } catch {
            return  // gone before we got to it: nothing to print
        }
        var renderer = EventRenderer(format: format, terminal: terminal)
        let name = id.rawValue
        renderer.prefix = Array((name + String(repeating: " ", count: max(0, idWidth - name.utf8.count)) + (format == .text ? "  " : " ")).utf8)
        renderer.seqDigits = seqDigits
        followed[id] = Followed(subscription: subscription, renderer: renderer, path: path(of: id))
        // Whatever is already there is published now; don't wait for a wake-up to print it.
        inbox.post { _ = $0.dirty.insert(id) }
    }

    private func drain(_ id: RunID) throws {
        guard let entry = followed[id] else { return }
        while true {
            let next: TailRead
            do { next = try entry.subscription.read(maxBytes: 256 * 1024) } catch {
                stopFollowing(id, ended: false)
                return
            }
            switch next {
            case .caughtUp:
                return
            case .gone(let reason):
                stopFollowing(id, ended: false)
                // Another file took the name (deleted and created again): that is a new run to print.
                if reason == .replaced { startFollowing(id, from: 0) }
                return
            case .lines(let bytes, let offset):
                var ended = false
                try bytes.withUnsafeBytes { raw in
                    try JournalReader.forEachLine(in: raw, offset: offset, path: entry.path) { line in
                        ended = try entry.renderer.render(line, into: &output) == .terminal
                        return !ended
                    }
                }
                try output.flushIfFull()
                if ended {
                    stopFollowing(id, ended: true)
                    return
                }
            }
        }
    }

    private func stopFollowing(_ id: RunID, ended: Bool) {
        followed.removeValue(forKey: id)?.subscription.cancel()
        if ended { finished.insert(id) }
    }
}
