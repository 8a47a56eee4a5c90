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

/// A transport that can carry a stream's live phase without a thread: it takes the stream over after the
/// replay, steps it on its own event loop (when the stream's waker fires or its deadline comes), writes what
/// it produces and ends the response when it is over. Parked streams cost the responder no thread.
public protocol StreamParking: ResponseBodyWriter {
    /// Hands `stream` to the transport; everything written before is delivered first. False when the
    /// transport cannot take it: the caller then runs it itself.
    func park(_ stream: any ParkableStream) -> Bool
}

/// A stream whose live phase can be driven by a transport's event loop: never blocks, never writes, says
/// what to send and when to be asked again. `LiveStream` is the one the API makes.
public protocol ParkableStream: AnyObject, Sendable {
    /// Who to call (from any thread) when the stream should be stepped: new lines, shutdown.
    func setWaker(_ wake: @escaping @Sendable () -> Void)
    /// Advances the stream; `readLimit` bounds the new journal bytes taken (0: none, the client is behind).
    /// Throws when the stream cannot go on (the transport logs it and ends the response).
    func step(readLimit: Int) throws -> StreamStep
    /// The transport saw the client hang up.
    func markClientGone()
    /// The stream is over, however it ended: release what it holds. Idempotent.
    func finish()
}

/// What one step of a `ParkableStream` produced.
public struct StreamStep: Sendable {
    /// Bytes to send (possibly empty). Streams of one journal at the same place share the same storage.
    public var output: [UInt8]
    /// Set when the stream is over: `output` is sent, then the response ends (`clientGone`: the connection
    /// is dropped without ending it).
    public var outcome: StreamOutcome?
    /// Step again after this many milliseconds at the latest (0: at once, more is waiting), unless woken.
    public var wakeAfterMillis: Int64

    public init(output: [UInt8], outcome: StreamOutcome? = nil, wakeAfterMillis: Int64) {
        self.output = output
        self.outcome = outcome
        self.wakeAfterMillis = wakeAfterMillis
    }
}

/// How a live stream ended.
public enum StreamOutcome: Sendable, Equatable {
    case terminalSent, journalGone, clientGone, shutdown
}
