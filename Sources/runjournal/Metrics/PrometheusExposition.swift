import CoreMetrics
import JournalTailer
import Prometheus
import RunJournal
import RunsAPI

/// `GET /metrics` for `serve`: bootstraps swift-metrics with the Prometheus backend (once per process) and
/// renders its registry in the Prometheus text format, process metrics sampled first.
final class PrometheusExposition: MetricsExposition {
    let contentType = "text/plain; version=0.0.4; charset=utf-8"
    private let registry: PrometheusCollectorRegistry
    private let process: ProcessMetrics

    /// Every metric the layers record, with its help text and buckets.
    static let descriptions: [MetricDescription] =
        StoreMetrics.descriptions + JournalTailer.metricDescriptions + APIMetrics.descriptions + ProcessMetrics.descriptions

    /// Bootstraps the process's metrics system. Call it once, before the store, tailer and API are made: they
    /// take their metric objects from the factory current at their creation.
    static func bootstrap(startedAtMillis: Int64) -> PrometheusExposition {
        let registry = PrometheusCollectorRegistry()
        let factory = DescribedPrometheusFactory(registry: registry, descriptions: descriptions)
        MetricsSystem.bootstrap(factory)
        return PrometheusExposition(registry: registry, process: ProcessMetrics(startedAtMillis: startedAtMillis, factory: factory))
    }

    private init(registry: PrometheusCollectorRegistry, process: ProcessMetrics) {
        self.registry = registry
        self.process = process
    }

    func render() -> [UInt8] {
        process.sample()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }
}
