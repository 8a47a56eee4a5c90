/// A request the transport has finished answering (a stream: when it ended).
public struct CompletedRequest: Sendable {
    /// `-` when the request could not be decoded.
    public var method: String
    /// The decoded path without the query; empty when the request could not be decoded.
    public var path: String
    public var status: Int
    /// From the decoded head to the end of the response (the whole stream for an event stream).
    public var duration: Duration
    /// See `HTTPRequest.principal`.
    public var principal: String?

    public init(method: String, path: String, status: Int, duration: Duration, principal: String?) {
        self.method = method
        self.path = path
        self.status = status
        self.duration = duration
        self.principal = principal
    }
}

/// Told about every request once, by the transport, which alone sees all of them: those refused before the
/// handler (too large, undecodable, over a cap) and when a stream really ends.
public protocol RequestObserver: Sendable {
    func requestCompleted(_ request: CompletedRequest)
}
