import ArgumentParser
import JournalTailer
import Logging
import RunJournal
import SystemSupport

/// `runjournal tail RUN [-f] [--after SEQ] [--format text|jsonl|sse]` and `runjournal tail -f --all`:
/// `tail -F` for run journals — print a run's events, then follow it live through the same inotify tailer
/// the server's event stream uses, until its terminal event.
struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print a run's events; with -f follow it live until its terminal event.",
        discussion: """
            Without -f: every event of the run (after --after), then exit.
            With -f: then follow it live; exit 0 after its terminal event, 1 if its journal is deleted \
            (pruned), 0 on SIGINT/SIGTERM.
            With -f --all: follow every run in the directory, runs created later included (printed from \
            run.created), each line prefixed with its run id, until SIGINT/SIGTERM.
            Text output is coloured only on a terminal, never with NO_COLOR set.
            """
    )

    @OptionGroup var journal: JournalOptions
    @Argument(help: ArgumentHelp("The run id.", valueName: "run")) var runName: String?
    @Flag(name: [.short, .long], help: "Keep following: print events as they are appended.") var follow = false
    @Flag(help: "With -f: follow every run in the directory, including runs created later.") var all = false
    @Option(help: ArgumentHelp("Only events with seq > SEQ.", valueName: "seq")) var after: Int64 = 0
    @Option(help: ArgumentHelp("text | jsonl | sse", valueName: "format")) var format: EventFormat = .text
    @Option(name: .customLong("retry-ms"), help: "The retry: hint of --format sse, in milliseconds.") var retryMs: Int = 1000

    func validate() throws {
        guard after >= 0 else { throw ValidationError("--after must be >= 0") }
        guard retryMs >= 0 else { throw ValidationError("--retry-ms must be >= 0") }
        if all {
            guard follow else { throw ValidationError("--all goes with -f (follow every run)") }
            guard runName == nil else { throw ValidationError("give a run id or --all, not both") }
            guard after == 0 else { throw ValidationError("--after applies to one run, not --all") }
            guard format != .sse else { throw ValidationError("--format sse is one run's stream; use text or jsonl with --all") }
        } else if runName == nil {
            throw ValidationError("give a run id (or -f --all)")
        }
    }

    func run() throws {
        let store = try journal.openStore()
        let terminal = Terminal.forStandardOutput()
        if all {
            try DirectoryFollower(directory: store.directory, format: format, terminal: terminal).run()
            return
        }
        let id = try JournalOptions.runID(runName!)
        // Signals are blocked before the tailer can start a thread (threads inherit the mask).
        let wake = WakeSignal()
        let interrupts = follow ? try Interrupts.start(wake: wake) : nil

        let journalFile = try store.openReader(id)
        var renderer = EventRenderer(format: format, terminal: terminal)
        if format == .text { renderer.seqDigits = EventRenderer.digits(try JournalTail.read(journalFile).lastSeq) }
        if format == .sse { renderer.incarnation = try journalFile.incarnation() }
        var output = OutputBuffer()
        try output.append(renderer.header(retryMillis: retryMs))

        // Replay: everything complete in the file now.
        var end = try journalFile.offset(afterSeq: after)
        var ended = false
        let after = self.after
        end = try journalFile.forEachLine(from: end) { line in
            guard line.seq > after else { return true }
            ended = try renderer.render(line, into: &output) == .terminal
            try output.flushIfFull()
            return !ended
        }
        try output.flush()
        guard follow, !ended, let interrupts else { return }

        // Live: wait for the tailer's wake-up, take what is new, repeat.
        let tailer = JournalTailer(mode: .inotify, logger: Logger(label: "runjournal.tail"))
        let subscription: JournalSubscription
        do {
            subscription = try tailer.subscribe(path: journalFile.path, from: end) { wake.raise() }
        } catch .notFound {
            throw CLIFailure("run \(id): journal deleted")
        } catch {
            throw CLIFailure("cannot follow run \(id): \(error)")
        }
        defer { subscription.cancel() }
        while true {
            wake.waitAndLower()
            read: while true {
                let next: TailRead
                do { next = try subscription.read(maxBytes: 256 * 1024) } catch {
                    try output.flush()
                    throw CLIFailure("cannot follow run \(id): \(error)")
                }
                switch next {
                case .caughtUp:
                    break read
                case .gone(let reason):
                    try output.flush()
                    throw CLIFailure("run \(id): journal \(Self.describe(reason))")
                case .lines(let bytes, let offset):
                    try bytes.withUnsafeBytes { raw in
                        try JournalReader.forEachLine(in: raw, offset: offset, path: journalFile.path) { line in
                            guard line.seq > after else { return true }
                            ended = try renderer.render(line, into: &output) == .terminal
                            return !ended
                        }
                    }
                    if ended {
                        try output.flush()
                        return
                    }
                }
            }
            try output.flush()
            if interrupts.signal != nil { return }
        }
    }

    static func describe(_ reason: GoneReason) -> String {
        switch reason {
        case .deleted: return "deleted"
        case .movedAway: return "moved away"
        case .replaced: return "replaced by another file"
        case .truncated: return "truncated"
        }
    }
}
