import Logging
import RunJournal

/// Every tunable of `runjournal serve`, resolved from the config file, the environment and the flags (see
/// `ConfigurationResolver`). One value type so the command, the features it starts and `config check` all read
/// the same settings, and so a feature that is built elsewhere (auth, the body budget, file modes) gets its
/// values from here without knowing where they came from. The defaults are the values with no source at all.
public struct ServeSettings: Sendable, Equatable {
    /// `journal.dir`: the directory of `<run-id>.jsonl` files.
    public var journalDirectory: String = "./journal"
    /// `listen.socket`: a unix socket path to listen on.
    public var socketPath: String?
    /// `listen.address`: TCP `HOST:PORT` to listen on. With neither this nor `socketPath`, the socket inherited on
    /// fd 0 is served.
    public var listenAddress: ListenAddress?
    /// `fsync`.
    public var fsync: FsyncPolicy = .always
    /// `stream.heartbeat_seconds`.
    public var heartbeatSeconds: Int = 15
    /// `stream.idle_timeout`: nil is `off`.
    public var idleTimeoutSeconds: Int? = 300
    /// `stream.stop_grace_seconds`.
    public var stopGraceSeconds: Int = 30
    /// `stream.retry_ms`.
    public var retryMillis: Int = 1000
    /// `stream.max_streams`.
    public var maxStreams: Int = 10_000
    /// `http.max_body_bytes`.
    public var maxBodyBytes: Int = 1 << 20
    /// `http.body_budget_bytes`: all request bodies in flight together.
    public var bodyBudgetBytes: Int = 256 << 20
    /// `tailer.mode`.
    public var tailerMode: TailerModeSetting = .inotify
    /// `tailer.poll_interval_ms`.
    public var pollIntervalMillis: Int = 250
    /// `lifecycle.sweep_interval_seconds`.
    public var sweepIntervalSeconds: Double = 10
    /// `shutdown.grace_seconds`.
    public var shutdownGraceSeconds: Int = 5
    /// `auth.tokens_file`: nil leaves access control off.
    public var authTokensFile: String?
    /// `auth.signing_key_file`: nil makes a random key at start.
    public var signingKeyFile: String?
    /// `log.level`.
    public var logLevel: Logger.Level = .info
    /// `files.journal_mode`: permission bits of new journals and the index.
    public var journalFileMode: UInt32 = 0o640
    /// `files.directory_mode`: permission bits of a journal directory the responder creates.
    public var directoryMode: UInt32 = 0o750

    public init() {}
}

/// `listen.address`, already split (`[::1]:8080` → host `::1`).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `tailer.mode`: how streams learn that a journal grew.
public enum TailerModeSetting: String, Sendable, Equatable, CaseIterable {
    case inotify
    case poll
}
