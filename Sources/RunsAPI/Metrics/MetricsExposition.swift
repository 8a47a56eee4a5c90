/// Renders the process's metrics for `GET /metrics`.
///
/// Why it is a protocol: the API records through swift-metrics and must not depend on a backend; the
/// executable bootstraps one (Prometheus) and hands the API this view of it. Without one, `/metrics` is 404.
public protocol MetricsExposition: Sendable {
    /// The `Content-Type` of `render()`'s bytes.
    var contentType: String { get }
    /// The current values of every metric (called per scrape, concurrently with recording).
    func render() -> [UInt8]
}
