import CoreMetrics

/// What the store reports: events and runs written, how long appends and syncs take, and journals that failed.
///
/// Recorded through swift-metrics only (the backend is the executable's choice). The metric objects are made
/// once per store, from the factory current when the store is created (`MetricsSystem.factory`: the one
/// `serve` bootstraps, or a test's task-local one), so an append costs an atomic add and a histogram update,
/// never a lookup.
public struct StoreMetrics: Sendable {
    /// Events appended (by appends, stop requests and the server's lifecycle rules; not `run.created`, and not
    /// a keyed retry that appended nothing).
    let eventsAppended: Counter
    /// Runs created (one `run.created` each).
    let runsCreated: Counter
    /// One append call: the journal lock, the write and, with fsync=always, the wait for its sync.
    let appendDuration: Timer
    /// One `fdatasync(2)` of a journal file (appends, group commits, readers' durability syncs, creates).
    let fsyncDuration: Timer
    /// Journals this process marked failed (a write or sync error; see `JournalFailure`).
    let journalsFailed: Counter

    public static let descriptions: [MetricDescription] = [
        MetricDescription(
            "runjournal_events_appended_total",
            help: "Events appended to journals (appends, stop requests, watchdog and stop-grace events; not run.created)."),
        MetricDescription("runjournal_runs_created_total", help: "Runs created."),
        MetricDescription(
            "runjournal_append_duration_seconds",
            help: "Time of one append call, journal lock and (with fsync=always) its sync included.",
            buckets: MetricDescription.latencyBuckets),
        MetricDescription(
            "runjournal_fsync_duration_seconds", help: "Time of one fdatasync of a journal file.",
            buckets: MetricDescription.latencyBuckets),
        MetricDescription(
            "runjournal_journals_failed_total",
            help: "Journals marked failed after a write or sync error (appends refused until verify --repair)."),
    ]

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        eventsAppended = Counter(label: "runjournal_events_appended_total", factory: factory)
        runsCreated = Counter(label: "runjournal_runs_created_total", factory: factory)
        appendDuration = Timer(label: "runjournal_append_duration_seconds", factory: factory)
        fsyncDuration = Timer(label: "runjournal_fsync_duration_seconds", factory: factory)
        journalsFailed = Counter(label: "runjournal_journals_failed_total", factory: factory)
    }
}
