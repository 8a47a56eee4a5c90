/// The transport's side of a streaming response (an SSE stream). The API's stream code writes through it
/// and never learns whether FastCGI, a test buffer or a future event loop is behind it.
public protocol ResponseBodyWriter: AnyObject {
    /// Buffers `bytes` for the client. Throws `ResponseWriterError.clientGone` when the connection is gone.
    func write(_ bytes: [UInt8]) throws
    /// Pushes everything buffered to the client. Throws `ResponseWriterError.clientGone` when it is gone.
    func flush() throws
    /// Calls `handler` once, from any thread, when the transport sees the client hang up while the stream is
    /// idle (nginx closes the upstream connection when its client goes). Cancel the returned observation
    /// when the stream ends. A transport that cannot tell returns nil; the heartbeat write notices instead.
    func observeHangup(_ handler: @escaping @Sendable () -> Void) -> (any HangupObservation)?
}

/// A registration made by `ResponseBodyWriter.observeHangup`; `cancel()` is idempotent.
public protocol HangupObservation: AnyObject, Sendable {
    func cancel()
}

/// Why a streaming write failed.
public enum ResponseWriterError: Error, Equatable, Sendable {
    /// The client (or the web server in front) closed the connection: end the stream and release it.
    case clientGone
}
