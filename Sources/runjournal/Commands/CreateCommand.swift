import ArgumentParser
import RunJournal

/// `runjournal create [--id ID] [--metadata JSON]`: makes a run and prints its id.
struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a run and print its id.")

    @OptionGroup var journal: JournalOptions
    @OptionGroup var fsync: FsyncOption
    @Option(help: "The run id (default: a new time-ordered id, run_<ulid>).") var id: String?
    @Option(help: "A JSON object stored as the run's metadata.") var metadata: String?
    @Option(help: ArgumentHelp(
        "Make a retry safe: the same key (and --id/--metadata) prints the run the first call created.",
        valueName: "key")) var idempotencyKey: String?

    func run() throws {
        let id = try id.map(JournalOptions.runID)
        let store = try journal.openStore(fsync: try fsync.policy())
        var record: IdempotencyRecord?
        if let idempotencyKey {
            let input = Array("\(id?.rawValue ?? "")\n\(metadata ?? "")".utf8)
            do { record = try IdempotencyRecord(key: idempotencyKey, body: input) } catch { throw CLIFailure.usage("\(error)") }
        }
        let summary = try store.create(id: id, metadata: metadata.map { Array($0.utf8) }, idempotency: record).summary
        print(summary.id.rawValue)
    }
}
