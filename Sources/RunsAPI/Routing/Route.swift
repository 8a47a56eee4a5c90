import RunJournal

/// The API's routes. Matching is on the decoded path's segments; a run id segment is validated by the
/// operation (a malformed id is a 400, never a path).
public enum Route: Equatable, Sendable {
    case runs  // /v1/runs
    case run(String)  // /v1/runs/:id
    case runEvents(String)  // /v1/runs/:id/events
    case runStop(String)  // /v1/runs/:id/stop
    case runStreamTokens(String)  // /v1/runs/:id/stream-tokens
    case metrics  // /metrics (Prometheus text format; admin scope when auth is on)

    public init?(path: String) {
        if path == "/metrics" {
            self = .metrics
            return
        }
        // Matched on the path's UTF-8 bytes, segment by segment: this runs for every request, and only the
        // id becomes a String.
        var utf8 = path.utf8[...]
        guard utf8.first == UInt8(ascii: "/") else { return nil }
        utf8 = utf8.dropFirst()
        var segments: [Substring.UTF8View] = []
        while segments.count < 6 {  // one more than any route has, to tell "too many" apart
            let end = utf8.firstIndex(of: UInt8(ascii: "/")) ?? utf8.endIndex
            segments.append(Substring(utf8[..<end]).utf8)
            if end == utf8.endIndex { break }
            utf8 = utf8[utf8.index(after: end)...]
        }
        if segments.count > 1 && segments.last!.isEmpty { segments.removeLast() }  // tolerate one trailing slash
        guard segments.count >= 2, segments[0].elementsEqual("v1".utf8), segments[1].elementsEqual("runs".utf8) else { return nil }
        let id = segments.count > 2 ? String(Substring(segments[2])) : ""
        switch segments.count {
        case 2: self = .runs
        case 3 where !id.isEmpty: self = .run(id)
        case 4 where !id.isEmpty && segments[3].elementsEqual("events".utf8): self = .runEvents(id)
        case 4 where !id.isEmpty && segments[3].elementsEqual("stop".utf8): self = .runStop(id)
        case 4 where !id.isEmpty && segments[3].elementsEqual("stream-tokens".utf8): self = .runStreamTokens(id)
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
        case .runStreamTokens: return ["POST"]
        case .metrics: return ["GET"]
        }
    }

    /// The run id the route names, if any (as sent; validated by the operation).
    public var runID: String? {
        switch self {
        case .run(let id), .runEvents(let id), .runStop(let id), .runStreamTokens(let id): return id
        case .runs, .metrics: return nil
        }
    }

    /// The route as written in the docs, with `:id` for the run id: what logs and metrics name a request by,
    /// so a label never holds a raw path (one series per run would be unbounded).
    public var pattern: String {
        switch self {
        case .runs: return "/v1/runs"
        case .run: return "/v1/runs/:id"
        case .runEvents: return "/v1/runs/:id/events"
        case .runStop: return "/v1/runs/:id/stop"
        case .runStreamTokens: return "/v1/runs/:id/stream-tokens"
        case .metrics: return "/metrics"
        }
    }
}
