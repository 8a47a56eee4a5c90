import RunJournal

/// A request's route as a fixed pattern (`/v1/runs/:id/events`), with the run id taken out: what the request
/// log (and any per-route figure) names, so a line never carries a raw path or query (an `access_token`) and the
/// number of distinct routes stays small.
public struct RoutePattern: Sendable, Equatable {
    public var pattern: String
    public var runID: String?

    /// Any path that matches no route.
    public static let unmatched = "(unmatched)"

    public init(path: String) {
        guard let route = Route(path: path) else {
            let known = [HealthEndpoints.livenessPath, HealthEndpoints.readinessPath]
            self.init(pattern: known.contains(path) ? path : Self.unmatched, runID: nil)
            return
        }
        self.init(pattern: route.pattern, runID: route.runID)
    }

    /// A malformed id (the API answers it 400) is not carried: a decoded path may hold any byte, a newline too.
    public init(pattern: String, runID: String?) {
        self.pattern = pattern
        self.runID = runID.map { (try? RunID($0)) != nil ? $0 : "(invalid)" }
    }
}
