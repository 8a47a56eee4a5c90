import ArgumentParser
import RunJournal

#if canImport(Glibc)
import Glibc
#endif

/// `runjournal prune --older-than DURATION [--status terminal|all] [--dry-run]`: retention by the age of a
/// run's last event. Deleting is `unlink` under the journal's `flock`, after re-reading it: a stream or
/// `tail -f` of a pruned run sees its journal gone and ends; appenders holding it open notice the zero link
/// count and report the run as not found.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete journals whose last event is older than a duration (ended runs only, by default).",
        discussion: """
            --status terminal (default) only ever deletes completed, failed or stopped runs; --status all \
            also deletes queued and running runs that have been silent that long.
            Durations: 90s, 30m, 12h, 7d, 2w, 1d12h.
            --dry-run prints what would be deleted and deletes nothing.
            """
    )

    enum Scope: String, ExpressibleByArgument, CaseIterable {
        case terminal, all
    }

    @OptionGroup var journal: JournalOptions
    @Option(name: .customLong("older-than"), help: ArgumentHelp("Age of the last event.", valueName: "duration"))
    var olderThan: String
    @Option(help: ArgumentHelp("terminal | all", valueName: "scope")) var status: Scope = .terminal
    @Flag(name: .customLong("dry-run"), help: "Only print what would be deleted.") var dryRun = false

    func run() throws {
        guard let age = TimeText.parseDuration(olderThan) else {
            throw CLIFailure.usage("--older-than must be a duration such as 90s, 30m, 12h, 7d or 2w (got \(olderThan))")
        }
        let now = try OpsClock.nowMillis()
        let store = try journal.openStore()
        let statuses: Set<RunStatus>? = status == .terminal ? Set(RunStatus.allCases.filter(\.isTerminal)) : nil
        let candidates = try loadSummaries(directory: store.directory, statuses: statuses, label: "scanning")
            .filter { now - $0.updatedAtMillis >= age }
            .sorted { $0.updatedAtMillis != $1.updatedAtMillis ? $0.updatedAtMillis < $1.updatedAtMillis : $0.id < $1.id }

        let terminal = Terminal.forStandardOutput()
        let output = StandardOutput()
        let progress = ProgressLine(total: dryRun ? 0 : candidates.count, label: "pruning")
        var table = Table([
            .init(title: ""), .init(title: ""), .init(title: ""), .init(title: "", alignment: .right),
            .init(title: "", alignment: .right),
        ])
        var removed: [RunID] = []
        var removedBytes: Int64 = 0
        var failures: [String] = []
        var notes: [String] = []
        for (index, run) in candidates.enumerated() {
            progress.update(index)
            if !dryRun {
                switch delete(run, store: store, age: age, now: now) {
                case .deleted: break
                case .skipped(let note):
                    notes.append(note)
                    continue
                case .failed(let problem):
                    failures.append(problem)
                    continue
                }
            }
            removed.append(run.id)
            removedBytes += run.byteCount
            table.add(
                [dryRun ? "would remove" : "removed", run.id.rawValue, run.status.rawValue,
                 "last event " + TimeText.age(now - run.updatedAtMillis) + " ago", TimeText.bytes(run.byteCount)],
                styles: [nil, nil, Terminal.style(of: run.status.rawValue)])
        }
        progress.clear()
        if !dryRun, !removed.isEmpty {
            // A listing only visits journals that exist, so the index would keep deleted runs forever.
            let catalog = RunCatalog(directory: store.directory)
            try catalog.forget(removed)
            catalog.flushIndex()
        }

        try output.write(table.render(terminal: terminal, header: false))
        let runs = removed.count == 1 ? "1 run" : "\(removed.count) runs"
        try output.write("\(dryRun ? "would remove" : "removed") \(runs), \(TimeText.bytes(removedBytes))\n")
        try output.flush()
        for message in notes + failures { writeStandardError("runjournal: \(message)\n") }
        if !failures.isEmpty { throw CLIFailure("\(failures.count) journals could not be removed") }
    }

    enum Outcome {
        case deleted
        /// Not deleted, and that is fine (it changed or vanished meanwhile): a note on stderr.
        case skipped(String)
        /// Not deleted because deleting failed: exit 1.
        case failed(String)
    }

    /// Unlinks one journal, deciding again on its current state under the appenders' lock
    /// (`JournalStore.deleteIf`): an event appended since the scan keeps the run, and no append can be
    /// acknowledged into the file once it is unlinked.
    private func delete(_ run: RunSummary, store: JournalStore, age: Int64, now: Int64) -> Outcome {
        do {
            let outcome = try store.deleteIf(run.id) { fresh in
                fresh.lastSeq == run.lastSeq && now - fresh.updatedAtMillis >= age
            }
            switch outcome {
            case .deleted: return .deleted
            case .kept: return .skipped("\(run.id): skipped, it has new events since the scan")
            case .notFound: return .skipped("\(run.id): already gone")
            }
        } catch {
            return .failed("cannot delete \(store.path(of: run.id)): \(error)")
        }
    }
}
