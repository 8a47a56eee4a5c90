/// Load figures of a running `FastCGIServer`: how many threads exist and what they are doing.
public struct FastCGIServerStatistics: Sendable, Equatable {
    /// Worker threads alive (busy + idle).
    public var workerThreads: Int
    /// Workers parked for reuse (at most `spareWorkerLimit`).
    public var idleWorkers: Int
    /// Requests being served, streams included.
    public var activeRequests: Int
    /// Workers parked on a connection the web server keeps open (nginx's upstream `keepalive`), waiting
    /// for its next request. Bounded by the web server's cache size, not by this server.
    public var keptConnections: Int
    /// `.stream` responses running (counted against `maxStreams`).
    public var activeStreams: Int
    /// Streams whose live phase runs on the stream loop (counted in `activeStreams` too).
    public var parkedStreams: Int
    /// Parked streams' steps run by the thread that woke them (the tailer, an appending worker) because the
    /// loop thread was asleep: each saved the loop thread a wake-up.
    public var streamStepsByWakers: Int = 0
    /// Stream connections the hang-up monitor watches (streams still on their worker).
    public var watchedConnections: Int
    /// Connections accepted since the server started (a kept connection is accepted once for many requests).
    public var connectionsAccepted: Int
    /// Requests answered since the server started, refused ones (503) included.
    public var requestsServed: Int
    /// Deepest worker stack use seen, when `measuresStackUsage` is on.
    public var stackHighWaterBytes: Int?
}
