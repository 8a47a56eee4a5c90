import RunJournal

/// The API's routes. Matching is on the decoded path's segments; a run id segment is validated by the
/// operation (a malformed id is a 400, never a path).
public enum Route: Equatable, Sendable {
    case runs  // /v1/runs
    case run(String)  // /v1/runs/:id
    case runEvents(String)  // /v1/runs/:id/events
    case runStop(String)  // /v1/runs/:id/stop

    public init?(path: String) {
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard segments.first == "" else { return nil }
        segments.removeFirst()
        if segments.last == "" && segments.count > 1 { segments.removeLast() }  // tolerate one trailing slash
        guard segments.count >= 2, segments[0] == "v1", segments[1] == "runs" else { return nil }
        switch segments.count {
        case 2: self = .runs
        case 3 where !segments[2].isEmpty: self = .run(segments[2])
        case 4 where !segments[2].isEmpty && segments[3] == "events": self = .runEvents(segments[2])
        case 4 where !segments[2].isEmpty && segments[3] == "stop": self = .runStop(segments[2])
        default: return nil
        }
    }

    /// The methods each route answers, for 405's `Allow`.
    public var allowedMethods: [String] {
        switch self {
        case .runs: return ["GET", "POST"]
        case .run: return ["GET"]
        case .runEvents: return ["GET", "POST"]
        case .runStop: return ["POST"]
        }
    }
}
