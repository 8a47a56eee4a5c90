/// A metric's name, its help text and, for histograms, its bucket bounds.
///
/// Why it exists: swift-metrics' API has no place for help text or buckets, but a Prometheus scrape without
/// `# HELP` fails `promtool check metrics`, and the backend's default duration buckets (5 ms and up) cannot
/// tell a 50 µs append from a 4 ms one. Each layer lists what it records next to where it records it
/// (`StoreMetrics.descriptions`, ...), and the executable hands every list to the backend it bootstraps.
public struct MetricDescription: Sendable, Equatable {
    /// The Prometheus name, which is also the swift-metrics label (`runjournal_events_appended_total`).
    public var name: String
    /// One line for `# HELP`.
    public var help: String
    /// Upper bounds in seconds (timers) or in the recorded unit (recorders); nil for counters and gauges.
    public var buckets: [Double]?

    public init(_ name: String, help: String, buckets: [Double]? = nil) {
        self.name = name
        self.help = help
        self.buckets = buckets
    }

    /// Bounds for the store's latencies: from a cached small append (tens of µs) to a disk that stalls for
    /// seconds.
    public static let latencyBuckets: [Double] = [
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]
}
