/// A request as the API operations see it: already decoded by the transport (FastCGI today), with no trace
/// of how it arrived, so every operation is testable in memory.
public struct HTTPRequest: Sendable {
    /// Upper-case method (`GET`, `POST`, ...).
    public var method: String
    /// The path, percent-decoded once (`/v1/runs/abc/events`).
    public var path: String
    /// Query parameters, percent-decoded, in order of appearance (`+` is a space).
    public var query: [(name: String, value: String)]
    /// Header values keyed by lower-case name with `-` (`last-event-id`, `content-type`).
    public var headers: [String: String]
    /// The body, already bounded by the transport's `--max-body`.
    public var body: [UInt8]
    /// Shared by every copy of this request (see `RequestAnnotations`).
    public let annotations = RequestAnnotations()

    /// The token name the request was made with, for the request log; set by the auth layer. Setting it on any
    /// copy of the request sets it on all of them.
    public var principal: String? {
        get { annotations.principal }
        nonmutating set { annotations.principal = newValue }
    }
    /// The runs the credential is confined to (its run pattern), set with `principal`; nil for every run.
    /// Operations that name no single run (list, create) apply it themselves.
    public var allowedRuns: RunPattern?

    public init(
        method: String, path: String, query: [(name: String, value: String)] = [],
        headers: [String: String] = [:], body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The first value of query parameter `name`.
    public func queryValue(_ name: String) -> String? {
        query.first(where: { $0.name == name })?.value
    }

    /// The header `name` (case-insensitive).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The media type of `Content-Type` without parameters, lower-cased (`application/json`).
    public var mediaType: String? {
        guard let value = header("content-type") else { return nil }
        let base = value.split(separator: ";", maxSplits: 1).first.map(String.init) ?? value
        return base.trimmingWhitespace().lowercased()
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
