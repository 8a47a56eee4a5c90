/// Anything that turns a request into a response. The transport (FastCGI) depends on this and nothing else
/// of the API, so the API can be served by another transport, or by a test, unchanged.
public protocol HTTPHandler: Sendable {
    /// Answers `request`. Called concurrently from many threads; must not block except inside a `.stream` body.
    func handle(_ request: HTTPRequest) -> HTTPResponse
}
