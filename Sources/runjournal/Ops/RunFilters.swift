import RunJournal

/// The `--status` values the ops tools accept: a status name, a comma-separated list of them, `terminal`
/// (completed, failed, stopped) or `active` (queued, running).
enum StatusFilter {
    static func parse(_ text: String) throws -> Set<RunStatus> {
        var statuses: Set<RunStatus> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            switch part {
            case "terminal": statuses.formUnion(RunStatus.allCases.filter(\.isTerminal))
            case "active": statuses.formUnion(RunStatus.allCases.filter { !$0.isTerminal })
            default:
                guard let status = RunStatus(rawValue: String(part)) else {
                    let names = RunStatus.allCases.map(\.rawValue).joined(separator: ", ")
                    throw CLIFailure.usage("--status must be \(names), terminal or active, or a comma-separated list (got \(text))")
                }
                statuses.insert(status)
            }
        }
        return statuses
    }
}

/// Runs newest first: by creation time, then by id (generated ids are time-ordered, and this keeps the
/// order total for runs created in the same millisecond or given their own ids).
func newestFirst(_ a: RunSummary, _ b: RunSummary) -> Bool {
    a.createdAtMillis != b.createdAtMillis ? a.createdAtMillis > b.createdAtMillis : a.id > b.id
}

/// Loads every run's summary through the run index (the one `GET /v1/runs` uses), with a progress line on
/// a terminal during a cold scan, and persists the index so the next invocation starts warm.
func loadSummaries(directory: String, statuses: Set<RunStatus>? = nil, label: String) throws -> [RunSummary] {
    let catalog = RunCatalog(directory: directory)
    var progress: ProgressLine?
    let runs = try catalog.list(statuses: statuses, limit: Int.max, persist: false) { done, total in
        if progress == nil { progress = ProgressLine(total: total, label: label) }
        progress?.update(done)
    }.runs
    progress?.clear()
    catalog.flushIndex()
    return runs
}
