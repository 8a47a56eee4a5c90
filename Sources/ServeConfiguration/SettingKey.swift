import Configuration
import Logging
import RunJournal

/// One setting of `serve`: its key in the config file, its environment variable and flag (the names every part
/// of the program and the docs share), how a value is checked and stored into `ServeSettings`, and how the
/// effective value is shown. `SettingKey.all` is the whole list: a key not in it is unknown in every source.
public struct SettingKey: Sendable {
    /// The dotted key of the config file (`stream.heartbeat_seconds`).
    public let name: String
    /// The long flag (`--heartbeat`).
    public let flag: String
    /// Shown instead of the value by `config check` (no setting holds a secret today: the secrets live in
    /// files whose paths are settings, and those files are never read for display).
    public let isSecret: Bool
    /// What a valid value looks like, for error messages.
    public let expected: String
    /// The types asked of a source, in order: a file may hold `300` or `"off"`, an environment variable only text.
    let types: [ConfigType]
    /// Stores a value into the settings, or returns false when it is out of range.
    let store: @Sendable (inout ServeSettings, ConfigContent) -> Bool
    /// The effective value as `config check` prints it.
    let show: @Sendable (ServeSettings) -> String

    /// `RUNJOURNAL_` + the key upper-cased with `.` → `_` (`RUNJOURNAL_STREAM_HEARTBEAT_SECONDS`).
    public var environmentVariable: String { Self.environmentPrefix + name.uppercased().replacingDots() }

    static let environmentPrefix = "RUNJOURNAL_"

    /// The key as swift-configuration addresses it.
    var configKey: AbsoluteConfigKey { AbsoluteConfigKey(name.split(separator: ".").map(String.init)) }

    public static func named(_ name: String) -> SettingKey? { all.first { $0.name == name } }
}

extension String {
    fileprivate func replacingDots() -> String { String(map { $0 == "." ? "_" : $0 }) }
}

// MARK: The settings

extension SettingKey {
    public static let all: [SettingKey] = [
        path("journal.dir", flag: "--journal", \.journalDirectory),
        optionalPath("listen.socket", flag: "--socket", \.socketPath),
        SettingKey(
            name: "listen.address", flag: "--listen", isSecret: false, expected: "must be HOST:PORT", types: [.string],
            store: { settings, content in
                guard case .string(let text) = content, let address = ListenAddress(parsing: text) else { return false }
                settings.listenAddress = address
                return true
            },
            show: { $0.listenAddress?.description ?? "(unset)" }),
        SettingKey(
            name: "fsync", flag: "--fsync", isSecret: false, expected: "must be always, never or interval:<ms>",
            types: [.string],
            store: { settings, content in
                guard case .string(let text) = content, let policy = FsyncPolicy(parsing: text) else { return false }
                settings.fsync = policy
                return true
            },
            show: { $0.fsync.description }),
        integer("stream.heartbeat_seconds", flag: "--heartbeat", minimum: 1, \.heartbeatSeconds),
        SettingKey(
            name: "stream.idle_timeout", flag: "--idle-timeout", isSecret: false,
            expected: "must be a whole number of seconds >= 1, or off", types: [.int, .string],
            store: { settings, content in
                switch content {
                case .int(let seconds) where seconds >= 1: settings.idleTimeoutSeconds = seconds
                case .string("off"): settings.idleTimeoutSeconds = nil
                case .string(let text) where (Int(text) ?? 0) >= 1: settings.idleTimeoutSeconds = Int(text)
                default: return false
                }
                return true
            },
            show: { $0.idleTimeoutSeconds.map(String.init) ?? "off" }),
        integer("stream.stop_grace_seconds", flag: "--stop-grace", minimum: 1, \.stopGraceSeconds),
        integer("stream.retry_ms", flag: "--retry-ms", minimum: 0, \.retryMillis),
        integer("stream.max_streams", flag: "--max-streams", minimum: 0, \.maxStreams),
        integer("http.max_body_bytes", flag: "--max-body", minimum: 0, \.maxBodyBytes),
        integer("http.body_budget_bytes", flag: "--body-budget", minimum: 1, \.bodyBudgetBytes),
        SettingKey(
            name: "tailer.mode", flag: "--tailer", isSecret: false, expected: "must be inotify or poll", types: [.string],
            store: { settings, content in
                guard case .string(let text) = content, let mode = TailerModeSetting(rawValue: text) else { return false }
                settings.tailerMode = mode
                return true
            },
            show: { $0.tailerMode.rawValue }),
        integer("tailer.poll_interval_ms", flag: "--poll-interval-ms", minimum: 1, \.pollIntervalMillis),
        SettingKey(
            name: "lifecycle.sweep_interval_seconds", flag: "--sweep-interval", isSecret: false,
            expected: "must be a number of seconds > 0", types: [.double],
            store: { settings, content in
                guard case .double(let seconds) = content, seconds > 0, seconds.isFinite else { return false }
                settings.sweepIntervalSeconds = seconds
                return true
            },
            show: { $0.sweepIntervalSeconds.formatted }),
        integer("shutdown.grace_seconds", flag: "--shutdown-grace", minimum: 0, \.shutdownGraceSeconds),
        optionalPath("auth.tokens_file", flag: "--auth-tokens", \.authTokensFile),
        optionalPath("auth.signing_key_file", flag: "--signing-key-file", \.signingKeyFile),
        SettingKey(
            name: "log.level", flag: "--log-level", isSecret: false,
            expected: "must be one of trace, debug, info, notice, warning, error, critical", types: [.string],
            store: { settings, content in
                guard case .string(let text) = content, let level = Logger.Level(rawValue: text) else { return false }
                settings.logLevel = level
                return true
            },
            show: { $0.logLevel.rawValue }),
        fileMode("files.journal_mode", flag: "--journal-file-mode", ownerNeeds: 0o600, \.journalFileMode),
        fileMode("files.directory_mode", flag: "--journal-dir-mode", ownerNeeds: 0o700, \.directoryMode),
    ]

    private static func integer(
        _ name: String, flag: String, minimum: Int, _ field: WritableKeyPath<ServeSettings, Int> & Sendable
    ) -> SettingKey {
        SettingKey(
            name: name, flag: flag, isSecret: false, expected: "must be a whole number >= \(minimum)", types: [.int],
            store: { settings, content in
                guard case .int(let value) = content, value >= minimum else { return false }
                settings[keyPath: field] = value
                return true
            },
            show: { String($0[keyPath: field]) })
    }

    private static func path(
        _ name: String, flag: String, _ field: WritableKeyPath<ServeSettings, String> & Sendable
    ) -> SettingKey {
        SettingKey(
            name: name, flag: flag, isSecret: false, expected: "must be a non-empty path", types: [.string],
            store: { settings, content in
                guard case .string(let text) = content, !text.isEmpty else { return false }
                settings[keyPath: field] = text
                return true
            },
            show: { $0[keyPath: field] })
    }

    private static func optionalPath(
        _ name: String, flag: String, _ field: WritableKeyPath<ServeSettings, String?> & Sendable
    ) -> SettingKey {
        SettingKey(
            name: name, flag: flag, isSecret: false, expected: "must be a non-empty path", types: [.string],
            store: { settings, content in
                guard case .string(let text) = content, !text.isEmpty else { return false }
                settings[keyPath: field] = text
                return true
            },
            show: { $0[keyPath: field] ?? "(unset)" })
    }

    /// An octal string such as `"0640"`: a string, because YAML reads an unquoted 0640 as octal and JSON has no
    /// octal numbers at all. The owner must keep the bits it needs to run (read and write, plus search for a
    /// directory), so a typo cannot lock the responder out of its own journals.
    private static func fileMode(
        _ name: String, flag: String, ownerNeeds: UInt32, _ field: WritableKeyPath<ServeSettings, UInt32> & Sendable
    ) -> SettingKey {
        SettingKey(
            name: name, flag: flag, isSecret: false,
            expected: "must be an octal mode string such as \"\(String(ownerNeeds | 0o040, radix: 8).leftPadded(4))\" that gives the owner at least \(String(ownerNeeds, radix: 8).leftPadded(4))",
            types: [.string],
            store: { settings, content in
                guard case .string(let text) = content, (3...4).contains(text.count),
                    text.allSatisfy({ ("0"..."7").contains($0) }), let mode = UInt32(text, radix: 8),
                    mode & 0o7000 == 0, mode & ownerNeeds == ownerNeeds
                else { return false }
                settings[keyPath: field] = mode
                return true
            },
            show: { String($0[keyPath: field], radix: 8).leftPadded(4) })
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

extension Double {
    /// `10` rather than `10.0` for whole numbers.
    fileprivate var formatted: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
