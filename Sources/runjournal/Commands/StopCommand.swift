import ArgumentParser
import RunJournal

/// `runjournal stop RUN [--force]`: ask a run to stop (`run.stop_requested`; the producer, or the server's
/// stop grace, ends it), or with `--force` end it now with `run.stopped {"reason":"forced"}` — for a
/// producer that is gone and will never append its own terminal event.
struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Request a run to stop; --force appends run.stopped at once. Prints the run's summary.",
        discussion: "Exit 1 when the run is not found or has already ended (its status is printed on stderr)."
    )

    @OptionGroup var journal: JournalOptions
    @OptionGroup var fsync: FsyncOption
    @Argument(help: ArgumentHelp("The run id.", valueName: "run")) var runName: String
    @Flag(help: "Append run.stopped {\"reason\":\"forced\"} now instead of requesting a stop.") var force = false

    func run() throws {
        let id = try JournalOptions.runID(runName)
        let store = try journal.openStore(fsync: try fsync.policy())
        let summary: RunSummary
        if force {
            let forced = NewEvent(type: .stopped, compactData: Array(#"{"reason":"forced"}"#.utf8))
            // Decided under the journal's lock: a producer's terminal event cannot slip in between the check
            // and the append.
            let appended = try store.appendIf(id) { current in current.status.isTerminal ? nil : [forced] }
            summary = try store.summary(of: id)
            if appended == nil { throw Self.alreadyEnded(summary) }
        } else {
            do {
                summary = try store.requestStop(id)
            } catch JournalError.runTerminal(_, let status) {
                throw CLIFailure("run \(id) has already ended: \(status.rawValue)")
            }
        }
        print(String(decoding: summary.json, as: UTF8.self))
    }

    static func alreadyEnded(_ summary: RunSummary) -> CLIFailure {
        CLIFailure("run \(summary.id) has already ended: \(summary.status.rawValue)")
    }
}
