import ArgumentParser
import Configuration
import Foundation
import ServeConfiguration

/// The flags of every `serve` setting, plus `--config FILE`. None has a default here: a flag that is not given
/// leaves the setting to the environment, the config file or the default (ServeConfiguration's `ServeSettings`),
/// and the help text says what that default is. Shared by `serve` and `config check`, so a check sees exactly the
/// configuration a start with the same arguments would.
struct ServeSettingFlags: ParsableArguments {
    @Option(help: ArgumentHelp("A config file (.json, .yaml or .yml); environment and flags override it.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("journal.dir: the journal directory (default ./journal).", valueName: "dir"))
    var journal: String?
    @Option(help: ArgumentHelp("listen.socket: listen on a unix socket at this path.", valueName: "path"))
    var socket: String?
    @Option(help: ArgumentHelp("listen.address: listen on TCP HOST:PORT.", valueName: "host:port"))
    var listen: String?
    @Option(help: ArgumentHelp("fsync: always (default) | interval:<ms> | never", valueName: "policy"))
    var fsync: String?
    @Option(help: ArgumentHelp("stream.heartbeat_seconds: seconds without a write before a heartbeat comment (15).", valueName: "seconds"))
    var heartbeat: Int?
    @Option(
        name: .customLong("idle-timeout"),
        help: ArgumentHelp("stream.idle_timeout: seconds of silence before the watchdog fails a run, or off (300).", valueName: "seconds|off"))
    var idleTimeout: String?
    @Option(
        name: .customLong("stop-grace"),
        help: ArgumentHelp("stream.stop_grace_seconds: seconds after a stop request before run.stopped (30).", valueName: "seconds"))
    var stopGrace: Int?
    @Option(name: .customLong("retry-ms"), help: ArgumentHelp("stream.retry_ms: the SSE retry: hint (1000).", valueName: "ms"))
    var retryMs: Int?
    @Option(
        name: .customLong("max-streams"),
        help: ArgumentHelp("stream.max_streams: concurrent event streams (10000).", valueName: "count"))
    var maxStreams: Int?
    @Option(name: .customLong("max-body"), help: ArgumentHelp("http.max_body_bytes: largest request body (1048576).", valueName: "bytes"))
    var maxBody: Int?
    @Option(
        name: .customLong("body-budget"),
        help: ArgumentHelp("http.body_budget_bytes: all request bodies in flight together (268435456).", valueName: "bytes"))
    var bodyBudget: Int?
    @Option(help: ArgumentHelp("tailer.mode: inotify (default) or poll.", valueName: "inotify|poll"))
    var tailer: String?
    @Option(
        name: .customLong("poll-interval-ms"),
        help: ArgumentHelp("tailer.poll_interval_ms: polling interval where inotify is unavailable or off (250).", valueName: "ms"))
    var pollIntervalMs: Int?
    @Option(
        name: .customLong("sweep-interval"),
        help: ArgumentHelp("lifecycle.sweep_interval_seconds: seconds between sweeps of unwatched runs (10).", valueName: "seconds"))
    var sweepInterval: Double?
    @Option(
        name: .customLong("shutdown-grace"),
        help: ArgumentHelp("shutdown.grace_seconds: seconds in-flight requests get on SIGTERM (5).", valueName: "seconds"))
    var shutdownGrace: Int?
    @Option(name: .customLong("auth-tokens"), help: ArgumentHelp("auth.tokens_file: the tokens file; access control is off without one.", valueName: "file"))
    var authTokens: String?
    @Option(
        name: .customLong("signing-key-file"),
        help: ArgumentHelp("auth.signing_key_file: the key stream tokens are signed with (default: a random key per start).", valueName: "file"))
    var signingKeyFile: String?
    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp("log.level: trace, debug, info (default), notice, warning, error or critical.", valueName: "level"))
    var logLevel: String?
    @Option(
        name: .customLong("journal-file-mode"),
        help: ArgumentHelp("files.journal_mode: mode of new journals and the index (0640).", valueName: "octal"))
    var journalFileMode: String?
    @Option(
        name: .customLong("journal-dir-mode"),
        help: ArgumentHelp("files.directory_mode: mode of a journal directory serve creates (0750).", valueName: "octal"))
    var journalDirMode: String?

    /// The settings given on the command line, by key.
    var values: [String: ConfigContent] {
        var values: [String: ConfigContent] = [:]
        func setText(_ key: String, _ text: String?) { if let text { values[key] = .string(text) } }
        func setNumber(_ key: String, _ number: Int?) { if let number { values[key] = .int(number) } }
        setText("journal.dir", journal)
        setText("listen.socket", socket)
        setText("listen.address", listen)
        setText("fsync", fsync)
        setNumber("stream.heartbeat_seconds", heartbeat)
        if let idleTimeout { values["stream.idle_timeout"] = Int(idleTimeout).map { .int($0) } ?? .string(idleTimeout) }
        setNumber("stream.stop_grace_seconds", stopGrace)
        setNumber("stream.retry_ms", retryMs)
        setNumber("stream.max_streams", maxStreams)
        setNumber("http.max_body_bytes", maxBody)
        setNumber("http.body_budget_bytes", bodyBudget)
        setText("tailer.mode", tailer)
        setNumber("tailer.poll_interval_ms", pollIntervalMs)
        if let sweepInterval { values["lifecycle.sweep_interval_seconds"] = .double(sweepInterval) }
        setNumber("shutdown.grace_seconds", shutdownGrace)
        setText("auth.tokens_file", authTokens)
        setText("auth.signing_key_file", signingKeyFile)
        setText("log.level", logLevel)
        setText("files.journal_mode", journalFileMode)
        setText("files.directory_mode", journalDirMode)
        return values
    }

    /// The settings from `--config`, the environment and these flags; a bad one is a usage failure (exit 2)
    /// naming its source and key.
    func resolve() throws -> ResolvedConfiguration {
        do {
            return try ConfigurationResolver.resolve(
                ConfigurationInput(configFile: config, environment: ProcessInfo.processInfo.environment, flags: values))
        } catch {
            throw CLIFailure.usage("configuration: \(error)")
        }
    }
}
