import ArgumentParser
import RunJournal

/// `runjournal show RUN`: the run's summary as JSON, the same shape `GET /v1/runs/:id` returns.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a run's summary as JSON.")

    @OptionGroup var journal: JournalOptions
    @Argument(help: ArgumentHelp("The run id.", valueName: "run")) var runName: String

    func run() throws {
        let id = try JournalOptions.runID(runName)
        let store = try journal.openStore()
        let summary = try store.summary(of: id)
        print(String(decoding: summary.json, as: UTF8.self))
    }
}
