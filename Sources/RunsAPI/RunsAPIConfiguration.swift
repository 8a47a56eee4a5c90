import RunJournal

/// Everything about the API's behaviour that an operator can set (`runjournal serve` flags).
public struct RunsAPIConfiguration: Sendable {
    /// Seconds without any write before a `: heartbeat` comment (15 s: proxies close idle connections after
    /// 30–60 s, and the write is also how a dead client is noticed where hang-up detection is unavailable).
    public var heartbeatSeconds: Int = 15
    /// Seconds a non-terminal, non-waiting run may stay silent before the watchdog fails it; nil disables it.
    public var idleTimeoutSeconds: Int? = 300
    /// Seconds after `run.stop_requested` before the server appends `run.stopped` itself.
    public var stopGraceSeconds: Int = 30
    /// The `retry:` reconnect hint sent first on every stream.
    public var retryMillis: Int = 1000
    /// When this responder started (wall clock): idle time never counts from before it, so a responder that
    /// was down does not fail every run the moment it starts.
    public var startedAtMillis: Int64
    /// Replay is written and flushed in chunks of about this many bytes (bounded memory per stream).
    public var replayChunkBytes: Int = 64 * 1024
    /// With fsync=always, readers sync before they send bytes (durable before visible).
    public var syncBeforeVisible: Bool = true

    public init(startedAtMillis: Int64) {
        self.startedAtMillis = startedAtMillis
    }
}
