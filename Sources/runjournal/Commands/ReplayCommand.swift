import ArgumentParser
import RunJournal
import RunsAPI

/// `runjournal replay (RUN | PATH.jsonl) [--after SEQ|EVENT-ID] [--format sse|jsonl|text] [--pace max|realtime|xN]`:
/// a run's stream offline, from its journal file alone — no server, any directory, a copied file will do.
///
/// `--format sse` (the default) prints exactly the bytes `GET /v1/runs/:id/events` sends for the same resume
/// point (its `retry:` frame, then one frame per event; no heartbeats), framed by the same `SSEFrame` code,
/// so a recorded journal can be fed to an SSE client or diffed against a capture of the server.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a run's events offline from its journal file, optionally at the original pace.",
        discussion: """
            The argument is a path when it contains '/' or ends in .jsonl, otherwise a run id in --journal.
            --format sse (the default) prints the bytes GET /v1/runs/:id/events sends for the same resume \
            point (--after = Last-Event-ID); resuming at or after the terminal event prints nothing (the \
            server answers 204 No Content).
            --pace realtime waits the original gaps between events (from their ts); x10 is ten times faster.
            Replay stops after the run's terminal event or at the end of what the file holds now.
            """
    )

    @OptionGroup var journal: JournalOptions
    @Argument(help: ArgumentHelp("A run id, or the path of a journal file.", valueName: "run|path.jsonl")) var target: String
    @Option(
        help: ArgumentHelp(
            "Only events after this one: SEQ, or an event id SEQ.INCARNATION as the stream sends it (the resume point, like Last-Event-ID).",
            valueName: "event-id"))
    var after: String = "0"
    @Option(help: ArgumentHelp("sse | jsonl | text", valueName: "format")) var format: EventFormat = .sse
    @Option(help: ArgumentHelp("max | realtime | xN (N times faster)", valueName: "pace")) var pace: String = "max"
    @Option(name: .customLong("retry-ms"), help: "The retry: hint of --format sse, in milliseconds.") var retryMs: Int = 1000

    func validate() throws {
        guard EventID.parse(Substring(after)) != nil else {
            throw ValidationError("--after must be a seq >= 0 or an event id SEQ.INCARNATION (got \(after))")
        }
        guard retryMs >= 0 else { throw ValidationError("--retry-ms must be >= 0") }
        guard ReplayPace(parsing: pace) != nil else {
            throw ValidationError("--pace must be max, realtime or xN with N > 0 (got \(pace))")
        }
    }

    func run() throws {
        let file = try openTarget()
        let tail = try JournalTail.read(file)
        let incarnation = try file.incarnation()
        // As the server does: an event id of another incarnation of the run replays this one from the start.
        let after = EventID.parse(Substring(self.after))!.seq(in: incarnation)
        // The server answers 204 (no body at all) when a client resumes at or after the terminal event.
        if format == .sse, tail.lastKind == .terminal, after >= tail.lastSeq { return }
        var renderer = EventRenderer(format: format, terminal: Terminal.forStandardOutput())
        renderer.seqDigits = EventRenderer.digits(tail.lastSeq)
        renderer.incarnation = incarnation
        var pacer = ReplayPacer(pace: ReplayPace(parsing: pace)!, clock: MonotonicPacingClock())
        let paced = pacer.pace != .max
        var output = OutputBuffer()
        try output.append(renderer.header(retryMillis: retryMs))
        // Like the server's replay: what the file holds when we start (lines appended later are live, not replay).
        let limit = try file.size()
        // Bytes past `limit` count as not written: a batch whose last line lies beyond it is not printed in part.
        try file.forEachLine(from: try file.offset(afterSeq: after), limit: limit) { line in
            guard line.seq > after else { return true }
            if paced { try pacer.wait(forEventAt: line.fields.timestampMillis) { try output.flush() } }
            let kind = try renderer.render(line, into: &output)
            try output.flushIfFull()
            return kind != .terminal
        }
        try output.flush()
    }

    /// A path (contains '/' or ends in .jsonl) or a run id in the journal directory.
    private func openTarget() throws -> OpenJournal {
        if target.contains("/") || target.hasSuffix(".jsonl") {
            do {
                return try OpenJournal(path: target)
            } catch let error as JournalError {
                throw CLIFailure("\(target): \(JournalOptions.reason(error))")
            }
        }
        let id = try JournalOptions.runID(target)
        return try journal.openStore().openReader(id)
    }
}
