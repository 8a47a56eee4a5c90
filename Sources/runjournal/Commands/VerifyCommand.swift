import ArgumentParser
import RunJournal
#if canImport(Glibc)
import Glibc
#endif

/// `runjournal verify [RUN...] [--repair]`: checks journals against the format; exit 1 when any has problems.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check journals against the format (all runs when none is named).",
        discussion: """
            --repair cuts an uncommitted tail (a torn line, an incomplete batch), rewrites a failed journal \
            (one whose write or sync failed) into a new synced file, which makes it appendable again, and removes \
            the .create-*.tmp files crashed creates left behind (those untouched for 60 s: a create in progress \
            keeps its own). It never changes a good line. Exit 1 when problems remain.
            """
    )

    @OptionGroup var journal: JournalOptions
    @Argument(help: "Run ids (default: every run in the directory).") var runs: [String] = []
    @Flag(help: "Truncate torn tails and remove temporary files of crashed creates.") var repair = false

    func run() throws {
        let store = try journal.openStore()
        let ids: [RunID]
        if runs.isEmpty {
            ids = try RunCatalog(directory: store.directory).runIDs()
        } else {
            ids = try runs.map(JournalOptions.runID)
        }
        if repair {
            for name in try store.removeAbandonedCreateFiles() {
                print("removed \(name): a temporary file left by a crashed create")
            }
        }
        let progress = ProgressLine(total: ids.count, label: "verifying")
        var failures = 0
        for (index, id) in ids.enumerated() {
            progress.update(index)
            let path = store.path(of: id)
            guard store.exists(id) else {
                progress.clear()
                print("\(id): not found")
                failures += 1
                continue
            }
            let report: JournalVerifier.Report
            do {
                report = repair ? try JournalVerifier.repair(path: path) : try JournalVerifier.verify(path: path)
            } catch {
                progress.clear()
                print("\(id): \(error)")
                failures += 1
                continue
            }
            progress.clear()
            if report.rewritten, let failure = report.failed {
                print("\(id): repaired: the journal had failed (\(failure.operation): \(String(cString: strerror(failure.errno)))); rewrote its \(report.lineCount) events into a new synced file")
            } else if let failure = report.failed {
                print("\(id): failed (\(failure.operation): \(String(cString: strerror(failure.errno)))); appends are refused; run verify --repair")
            }
            if report.repaired {
                print("\(id): repaired: cut an uncommitted tail (\(report.tornTailBytes) bytes: a torn line or an incomplete batch)")
            } else if report.tornTailBytes > 0 {
                print("\(id): uncommitted tail (\(report.tornTailBytes) bytes: a torn line or an incomplete batch); run verify --repair")
            }
            for problem in report.problems { print("\(id): \(problem)") }
            if !report.problems.isEmpty || (report.tornTailBytes > 0 && !report.repaired) || (report.failed != nil && !report.rewritten) {
                failures += 1
            } else if !report.repaired && !report.rewritten {
                print("\(id): ok (\(report.lineCount) events)")
            }
        }
        progress.clear()
        if failures > 0 { throw CLIFailure("\(failures) of \(ids.count) journals have problems", exitCode: 1) }
    }
}
