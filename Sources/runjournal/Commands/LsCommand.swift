import ArgumentParser
import RunJournal

/// `runjournal ls [--status S] [--since WHEN] [--json] [--limit N]`: the runs of a journal directory, newest
/// first, from the same run index as `GET /v1/runs` (warm, it is a `stat` per journal and no reads).
struct LsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List runs, newest first: id, status, events, created, age of the last event, reason.",
        discussion: """
            --status: queued, running, completed, failed, stopped, terminal, active, or a comma-separated list.
            --since: runs created at or after WHEN: a duration ago (90s, 30m, 2h, 7d, 1h30m), today, \
            yesterday, a date (2026-11-25, UTC) or an RFC 3339 time (2026-11-25T10:00:00Z).
            --json prints {"runs":[...]} with each run shaped as GET /v1/runs/:id returns it.
            Times are UTC, as in the journals.
            """
    )

    @OptionGroup var journal: JournalOptions
    @Option(help: ArgumentHelp("Only runs with this status (or list, terminal, active).", valueName: "status")) var status: String?
    @Option(help: ArgumentHelp("Only runs created at or after WHEN.", valueName: "duration|date")) var since: String?
    @Flag(help: "Print JSON: {\"runs\":[...]}.") var json = false
    @Option(help: ArgumentHelp("At most N runs.", valueName: "n")) var limit: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be >= 1") }
    }

    func run() throws {
        let statuses = try status.map(StatusFilter.parse)
        let now = try OpsClock.nowMillis()
        var sinceMillis: Int64?
        if let since {
            guard let parsed = TimeText.parseInstant(since, now: now) else {
                throw CLIFailure.usage("--since must be a duration (30m, 2h, 7d), today, a date (2026-11-25) or an RFC 3339 time (got \(since))")
            }
            sinceMillis = parsed
        }
        let store = try journal.openStore()
        var runs = try loadSummaries(directory: store.directory, statuses: statuses, label: "listing")
        if let sinceMillis { runs.removeAll { $0.createdAtMillis < sinceMillis } }
        runs.sort(by: newestFirst)
        if let limit, runs.count > limit { runs.removeSubrange(limit...) }

        let output = StandardOutput()
        if json {
            var writer = JSONWriter(reservingCapacity: 256 * runs.count + 16)
            writer.object {
                $0.key("runs")
                $0.array { array in
                    for run in runs { run.writeJSON(to: &array) }
                }
            }
            try output.write(writer.bytes)
            try output.write("\n")
        } else {
            try output.write(Self.table(runs, now: now).render(terminal: Terminal.forStandardOutput()))
        }
        try output.flush()
    }

    static func table(_ runs: [RunSummary], now: Int64) -> Table {
        var table = Table([
            .init(title: "ID"), .init(title: "STATUS"), .init(title: "EVENTS", alignment: .right),
            .init(title: "CREATED"), .init(title: "LAST EVENT", alignment: .right), .init(title: "REASON"),
        ])
        for run in runs {
            var reason = ""
            if run.status == .failed || run.status == .stopped {
                reason = run.terminalReason ?? ""
            } else if run.stopRequested {
                reason = "stop requested"
            }
            table.add(
                [
                    run.id.rawValue, run.status.rawValue, String(run.lastSeq), TimeText.dateTime(run.createdAtMillis),
                    TimeText.age(now - run.updatedAtMillis) + " ago", reason,
                ],
                styles: [nil, Terminal.style(of: run.status.rawValue)])
        }
        return table
    }
}
