import CoreMetrics
import RunJournal

/// What the tailer reports: how often it wakes subscribers, and how often inotify could not be used where it
/// was wanted (each such journal or directory is then polled).
///
/// Recorded through swift-metrics only; made once per tailer from the factory current at its creation.
struct TailerMetrics: Sendable {
    /// Subscriber wake-ups delivered (one per subscriber per batch of new lines, or per end of a journal).
    let wakeups: Counter
    /// Journals or directories that fell back to polling in inotify mode (no instance, watch limit, lost watch).
    let pollFallbacks: Counter

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        wakeups = Counter(label: "runjournal_tailer_wakeups_total", factory: factory)
        pollFallbacks = Counter(label: "runjournal_tailer_poll_fallbacks_total", factory: factory)
    }
}

extension JournalTailer {
    /// The tailer's metrics, for the backend that renders them (`MetricDescription`).
    public static let metricDescriptions: [MetricDescription] = [
        MetricDescription(
            "runjournal_tailer_wakeups_total",
            help: "Subscriber wake-ups delivered by the tailer (new lines or the end of a followed journal)."),
        MetricDescription(
            "runjournal_tailer_poll_fallbacks_total",
            help: "Journals or directories polled because inotify could not be used for them (no instance, watch limit, lost watch)."),
    ]
}
