/// `GET /metrics` → 200 with the process's metrics in the exposition's format (Prometheus text), or 404 when
/// the responder was started without a metrics backend.
struct MetricsOperation {
    let context: RunsContext

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        guard let exposition = context.metricsExposition else {
            return .error(404, code: "not_found", message: "metrics are not enabled on this responder")
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", exposition.contentType)], body: .bytes(exposition.render()))
    }
}
