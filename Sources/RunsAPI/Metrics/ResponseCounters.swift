import CoreMetrics
import RunJournal
import SystemSupport

/// One counter per (route pattern, status), made the first time that pair is answered and kept.
///
/// The label values are bounded: route patterns (`/v1/runs/:id/events`, never a raw path) plus `unmatched`
/// for paths no route takes, times the statuses the API answers.
final class ResponseCounters: @unchecked Sendable {
    private let label: String
    private let factory: any MetricsFactory
    /// A pthread mutex: uncontended it costs a few nanoseconds, and every request passes here.
    private let lock = ConditionLock()
    private var counters: [Int: Counter] = [:]

    /// The `route` label of a request no route matched (a 404).
    static let unmatchedRoute = "unmatched"

    init(label: String, factory: any MetricsFactory) {
        self.label = label
        self.factory = factory
    }

    func increment(route: Route?, status: Int) {
        let key = Self.routeIndex(route) << 16 | (status & 0xFFFF)
        if let counter = lock.withLock({ counters[key] }) {
            counter.increment()
            return
        }
        let counter = Counter(
            label: label, dimensions: [("route", route?.pattern ?? Self.unmatchedRoute), ("status", String(status))],
            factory: factory)
        // Two first requests may race to make it: the backend hands both the same series, and one is kept.
        lock.withLock { counters[key] = counters[key] ?? counter }
        counter.increment()
    }

    private static func routeIndex(_ route: Route?) -> Int {
        switch route {
        case nil: return 0
        case .runs?: return 1
        case .run?: return 2
        case .runEvents?: return 3
        case .runStop?: return 4
        case .metrics?: return 5
        case .runStreamTokens?: return 6
        }
    }
}
