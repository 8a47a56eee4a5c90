import Logging

/// The request log: one line per request at info, with the method, the route pattern (never the raw path or
/// query, which may carry an `access_token`), the status, the duration, the run id and the token name.
///
///     2026-05-01T12:00:00+0000 info runjournal.http : duration_ms=3.2 method=POST route=/v1/runs/:id/events run_id=build-1 status=202 token=ci [RunsAPI] request
public struct RequestLog: RequestObserver {
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func requestCompleted(_ request: CompletedRequest) {
        guard logger.logLevel <= .info else { return }
        let route = RoutePattern(path: request.path)
        var metadata: Logger.Metadata = [
            "method": "\(request.method)",
            "route": "\(route.pattern)",
            "status": "\(request.status)",
            "duration_ms": "\(Self.milliseconds(request.duration))",
        ]
        if let runID = route.runID { metadata["run_id"] = "\(runID)" }
        if let principal = request.principal { metadata["token"] = "\(principal)" }
        logger.info("request", metadata: metadata)
    }

    /// Milliseconds with one decimal.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = seconds * 10_000 + attoseconds / 100_000_000_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }
}
