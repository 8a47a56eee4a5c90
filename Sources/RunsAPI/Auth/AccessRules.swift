/// Which scope each route needs, as a table on method and path so the gate needs no knowledge of the
/// operations behind it: a route added later (`/metrics`, `/healthz`) is one line here. A path no rule
/// names still needs a valid token (any scope); the router then answers it (404, 405) without revealing
/// anything to anonymous clients.
public struct AccessRules: Sendable {
    /// What a matched request needs.
    public enum Requirement: Equatable, Sendable {
        /// Open to everyone, tokens or not (health checks).
        case open
        case scope(AccessScope)
    }

    /// One row: `method` ("*" for any) and a path pattern whose `:id` segment is a run id.
    public struct Rule: Sendable {
        public var method: String
        public var pattern: [String]
        public var requirement: Requirement
        /// `?access_token=` (a stream token) is accepted instead of a bearer secret.
        public var acceptsStreamToken: Bool

        public init(_ method: String, _ path: String, _ requirement: Requirement, acceptsStreamToken: Bool = false) {
            self.method = method
            self.pattern = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
            self.requirement = requirement
            self.acceptsStreamToken = acceptsStreamToken
        }
    }

    /// A request matched to its rule.
    public struct Match: Equatable, Sendable {
        public var requirement: Requirement
        /// The `:id` segment as sent, for the run pattern check.
        public var runID: String?
        public var acceptsStreamToken: Bool
    }

    public var rules: [Rule]

    public init(_ rules: [Rule]) {
        self.rules = rules
    }

    /// The API's routes (docs/architecture.md and README "Security" list the same).
    public static let standard = AccessRules([
        Rule("GET", "/v1/runs", .scope(.read)),  // the listing is filtered by the token's run pattern
        Rule("POST", "/v1/runs", .scope(.write)),  // the new id must be inside the pattern
        Rule("GET", "/v1/runs/:id", .scope(.read)),
        Rule("GET", "/v1/runs/:id/events", .scope(.read), acceptsStreamToken: true),
        Rule("POST", "/v1/runs/:id/events", .scope(.write)),
        Rule("POST", "/v1/runs/:id/stop", .scope(.write)),
        Rule("POST", "/v1/runs/:id/stream-tokens", .scope(.read)),
        Rule("*", "/metrics", .scope(.admin)),
        Rule("*", "/healthz", .open),
        Rule("*", "/readyz", .open),
    ])

    /// The rule for `method` and the decoded `path`, or nil. Paths are split like `Route` splits them (one
    /// trailing slash tolerated), so a path the router would serve as a run route always matches its rule here.
    public func match(method: String, path: String) -> Match? {
        guard path.hasPrefix("/") else { return nil }
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
        if segments.count > 1 && segments.last?.isEmpty == true { segments.removeLast() }
        for rule in rules where rule.method == "*" || rule.method == method {
            guard rule.pattern.count == segments.count else { continue }
            var runID: String?
            var matched = true
            for (expected, actual) in zip(rule.pattern, segments) {
                if expected == ":id" {
                    guard !actual.isEmpty else { matched = false; break }
                    runID = String(actual)
                } else if expected != actual {
                    matched = false
                    break
                }
            }
            if matched { return Match(requirement: rule.requirement, runID: runID, acceptsStreamToken: rule.acceptsStreamToken) }
        }
        return nil
    }
}
