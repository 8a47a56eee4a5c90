import ArgumentParser
import RunJournal

/// `runjournal stats`: what a journal directory holds — runs per status, events, bytes, the oldest and
/// newest run, and the largest journals (the ones to look at when the disk fills).
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Summarize the journal directory: runs per status, events, bytes, oldest/newest, largest journals."
    )

    @OptionGroup var journal: JournalOptions
    @Option(help: ArgumentHelp("How many of the largest journals to show.", valueName: "n")) var top: Int = 5

    func validate() throws {
        guard top >= 0 else { throw ValidationError("--top must be >= 0") }
    }

    func run() throws {
        let store = try journal.openStore()
        let runs = try loadSummaries(directory: store.directory, label: "scanning")
        let terminal = Terminal.forStandardOutput()
        let output = StandardOutput()

        var counts: [RunStatus: Int] = [:]
        var events: Int64 = 0
        var bytes: Int64 = 0
        for run in runs {
            counts[run.status, default: 0] += 1
            events += run.lastSeq
            bytes += run.byteCount
        }
        var totals = Table([.init(title: ""), .init(title: "", alignment: .right), .init(title: "")])
        totals.add(["runs", String(runs.count)])
        for status in RunStatus.allCases {
            totals.add(["  " + status.rawValue, String(counts[status] ?? 0)], styles: [Terminal.style(of: status.rawValue)])
        }
        totals.add(["events", String(events)])
        totals.add(["bytes", String(bytes), "(" + TimeText.bytes(bytes) + ")"])
        let byCreation = runs.sorted(by: newestFirst)
        if let newest = byCreation.first, let oldest = byCreation.last {
            totals.add(["oldest", TimeText.dateTime(oldest.createdAtMillis), oldest.id.rawValue])
            totals.add(["newest", TimeText.dateTime(newest.createdAtMillis), newest.id.rawValue])
        }
        try output.write(totals.render(terminal: terminal, header: false))

        let largest = runs.sorted { $0.byteCount != $1.byteCount ? $0.byteCount > $1.byteCount : $0.id < $1.id }.prefix(top)
        if !largest.isEmpty {
            try output.write("\n" + terminal.paint("largest journals", .bold) + "\n")
            var table = Table([
                .init(title: ""), .init(title: "", alignment: .right), .init(title: "", alignment: .right), .init(title: ""),
            ])
            for run in largest {
                table.add(
                    ["  " + run.id.rawValue, TimeText.bytes(run.byteCount), "\(run.lastSeq) events", run.status.rawValue],
                    styles: [nil, nil, nil, Terminal.style(of: run.status.rawValue)])
            }
            try output.write(table.render(terminal: terminal, header: false))
        }
        try output.flush()
    }
}
