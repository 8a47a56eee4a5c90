import Configuration
import Foundation
import Logging
import RunJournal
import ServeConfiguration
import Testing

/// The three sources and their precedence, and every way a configuration is refused, on real files.
@Suite("Configuration: file < environment < flags")
struct ConfigurationResolverTests {
    /// A config file in a fresh directory, removed at the end of the test.
    final class ConfigFile {
        let directory: String
        let path: String

        init(_ name: String, _ text: String) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("rjcfg-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            path = directory + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    static func resolve(
        file: String? = nil, environment: [String: String] = [:], flags: [String: ConfigContent] = [:]
    ) throws(ConfigurationError) -> ResolvedConfiguration {
        try ConfigurationResolver.resolve(ConfigurationInput(configFile: file, environment: environment, flags: flags))
    }

    static func error(
        file: String? = nil, environment: [String: String] = [:], flags: [String: ConfigContent] = [:]
    ) -> ConfigurationError? {
        do {
            _ = try resolve(file: file, environment: environment, flags: flags)
            return nil
        } catch {
            return error
        }
    }

    @Test("with no source every setting has its default and says so")
    func defaults() throws {
        let resolved = try Self.resolve(environment: ["PATH": "/bin", "HOME": "/root"])
        #expect(resolved.settings == ServeSettings())
        #expect(Set(resolved.sources.keys) == Set(SettingKey.all.map(\.name)))
        #expect(resolved.sources.values.allSatisfy { $0 == .defaultValue })
    }

    @Test("a flag beats the environment, which beats the file, which beats the default", arguments: ["yaml", "json"])
    func precedence(format: String) throws {
        let text = format == "yaml"
            ? "stream:\n  heartbeat_seconds: 20\n  retry_ms: 2000\n  max_streams: 7\ntailer:\n  mode: poll\n"
            : #"{"stream":{"heartbeat_seconds":20,"retry_ms":2000,"max_streams":7},"tailer":{"mode":"poll"}}"#
        let file = try ConfigFile("runjournal.\(format)", text)
        let resolved = try Self.resolve(
            file: file.path,
            environment: ["RUNJOURNAL_STREAM_HEARTBEAT_SECONDS": "25", "RUNJOURNAL_STREAM_RETRY_MS": "500"],
            flags: ["stream.heartbeat_seconds": .int(30)])
        #expect(resolved.settings.heartbeatSeconds == 30)
        #expect(resolved.sources["stream.heartbeat_seconds"] == .flag("--heartbeat"))
        #expect(resolved.settings.retryMillis == 500)
        #expect(resolved.sources["stream.retry_ms"] == .environment(variable: "RUNJOURNAL_STREAM_RETRY_MS"))
        #expect(resolved.settings.maxStreams == 7)
        #expect(resolved.sources["stream.max_streams"] == .configFile(path: file.path))
        #expect(resolved.settings.tailerMode == .poll)
        #expect(resolved.settings.stopGraceSeconds == 30)
        #expect(resolved.sources["stream.stop_grace_seconds"] == .defaultValue)
    }

    @Test("every setting can be given in each source")
    func everyKeyInEverySource() throws {
        let texts: [String: (yaml: String, env: String, flag: ConfigContent)] = [
            "journal.dir": ("/srv/j", "/srv/j", .string("/srv/j")),
            "listen.socket": ("/run/rj.sock", "/run/rj.sock", .string("/run/rj.sock")),
            "fsync": ("interval:50", "interval:50", .string("interval:50")),
            "stream.heartbeat_seconds": ("9", "9", .int(9)),
            "stream.idle_timeout": ("off", "off", .string("off")),
            "stream.stop_grace_seconds": ("9", "9", .int(9)),
            "stream.retry_ms": ("9", "9", .int(9)),
            "stream.max_streams": ("9", "9", .int(9)),
            "http.max_body_bytes": ("9", "9", .int(9)),
            "http.body_budget_bytes": ("9", "9", .int(9)),
            "tailer.mode": ("poll", "poll", .string("poll")),
            "tailer.poll_interval_ms": ("9", "9", .int(9)),
            "lifecycle.sweep_interval_seconds": ("0.5", "0.5", .double(0.5)),
            "shutdown.grace_seconds": ("9", "9", .int(9)),
            "auth.tokens_file": ("/etc/t", "/etc/t", .string("/etc/t")),
            "auth.signing_key_file": ("/etc/k", "/etc/k", .string("/etc/k")),
            "log.level": ("debug", "debug", .string("debug")),
            "files.journal_mode": ("\"0600\"", "0600", .string("0600")),
            "files.directory_mode": ("\"0700\"", "0700", .string("0700")),
        ]
        // listen.address excludes listen.socket; it has its own test.
        #expect(Set(texts.keys).union(["listen.address"]) == Set(SettingKey.all.map(\.name)))
        var expected = ServeSettings()
        expected.journalDirectory = "/srv/j"
        expected.socketPath = "/run/rj.sock"
        expected.fsync = .interval(milliseconds: 50)
        expected.heartbeatSeconds = 9
        expected.idleTimeoutSeconds = nil
        expected.stopGraceSeconds = 9
        expected.retryMillis = 9
        expected.maxStreams = 9
        expected.maxBodyBytes = 9
        expected.bodyBudgetBytes = 9
        expected.tailerMode = .poll
        expected.pollIntervalMillis = 9
        expected.sweepIntervalSeconds = 0.5
        expected.shutdownGraceSeconds = 9
        expected.authTokensFile = "/etc/t"
        expected.signingKeyFile = "/etc/k"
        expected.logLevel = .debug
        expected.journalFileMode = 0o600
        expected.directoryMode = 0o700

        var yaml = ""
        let sections = Dictionary(grouping: texts.keys.sorted()) { $0.split(separator: ".").count == 1 ? "" : String($0.split(separator: ".")[0]) }
        for (section, names) in sections {
            if !section.isEmpty { yaml += "\(section):\n" }
            for name in names {
                yaml += section.isEmpty ? "\(name): \(texts[name]!.yaml)\n" : "  \(name.split(separator: ".")[1]): \(texts[name]!.yaml)\n"
            }
        }
        let file = try ConfigFile("all.yaml", yaml)
        let fromFile = try Self.resolve(file: file.path)
        #expect(fromFile.settings == expected)
        #expect(fromFile.sources.filter { $0.key != "listen.address" }.values.allSatisfy { $0 == .configFile(path: file.path) })

        let variables = Dictionary(uniqueKeysWithValues: texts.map { (SettingKey.named($0.key)!.environmentVariable, $0.value.env) })
        let fromEnvironment = try Self.resolve(environment: variables)
        #expect(fromEnvironment.settings == expected)

        let fromFlags = try Self.resolve(flags: texts.mapValues(\.flag))
        #expect(fromFlags.settings == expected)
        #expect(fromFlags.sources["auth.tokens_file"] == .flag("--auth-tokens"))
    }

    @Test("environment variable names follow RUNJOURNAL_ + KEY with dots as underscores")
    func environmentNames() {
        #expect(SettingKey.named("auth.tokens_file")?.environmentVariable == "RUNJOURNAL_AUTH_TOKENS_FILE")
        #expect(SettingKey.named("journal.dir")?.environmentVariable == "RUNJOURNAL_JOURNAL_DIR")
        #expect(SettingKey.named("log.level")?.environmentVariable == "RUNJOURNAL_LOG_LEVEL")
        #expect(SettingKey.named("fsync")?.environmentVariable == "RUNJOURNAL_FSYNC")
    }

    @Test("RUNJOURNAL_DIR still names the journal directory, below RUNJOURNAL_JOURNAL_DIR")
    func olderDirectoryVariable() throws {
        let older = try Self.resolve(environment: ["RUNJOURNAL_DIR": "/old"])
        #expect(older.settings.journalDirectory == "/old")
        #expect(older.sources["journal.dir"] == .environment(variable: "RUNJOURNAL_DIR"))
        let both = try Self.resolve(environment: ["RUNJOURNAL_DIR": "/old", "RUNJOURNAL_JOURNAL_DIR": "/new"])
        #expect(both.settings.journalDirectory == "/new")
        #expect(both.sources["journal.dir"] == .environment(variable: "RUNJOURNAL_JOURNAL_DIR"))
    }

    @Test("listen.address takes HOST:PORT and [v6]:PORT, and excludes listen.socket")
    func listenAddress() throws {
        let v6 = try Self.resolve(environment: ["RUNJOURNAL_LISTEN_ADDRESS": "[::1]:9000"])
        #expect(v6.settings.listenAddress == ListenAddress(parsing: "[::1]:9000"))
        #expect(v6.settings.listenAddress?.host == "::1")
        let error = Self.error(
            environment: ["RUNJOURNAL_LISTEN_ADDRESS": "127.0.0.1:9000"], flags: ["listen.socket": .string("/run/rj.sock")])
        #expect(error?.description.contains("listen.socket (flag --socket)") == true, "\(String(describing: error))")
        #expect(error?.description.contains("listen.address (environment RUNJOURNAL_LISTEN_ADDRESS)") == true)
    }

    // MARK: Refusals

    @Test("an unknown key in the file is refused, naming the file and the key", arguments: ["yaml", "json"])
    func unknownFileKey(format: String) throws {
        let text = format == "yaml" ? "stream:\n  heartbeat: 5\n" : #"{"stream":{"heartbeat":5}}"#
        let file = try ConfigFile("c.\(format)", text)
        let error = Self.error(file: file.path)
        #expect(error == .unknownKey(source: .configFile(path: file.path), key: "stream.heartbeat"))
        #expect(error?.description == "config file \(file.path): unknown key \"stream.heartbeat\"")
    }

    @Test("a section given a value instead of keys is an unknown key")
    func sectionAsValue() throws {
        let file = try ConfigFile("c.yaml", "stream: 5\n")
        #expect(Self.error(file: file.path) == .unknownKey(source: .configFile(path: file.path), key: "stream"))
    }

    @Test("an unknown RUNJOURNAL_ variable is refused by name; other variables are not the service's business")
    func unknownVariable() {
        let error = Self.error(environment: ["RUNJOURNAL_STREAM_HEARTBEAT": "5", "HOME": "/root"])
        #expect(error == .unknownKey(source: .environment(variable: "RUNJOURNAL_STREAM_HEARTBEAT"), key: "RUNJOURNAL_STREAM_HEARTBEAT"))
        #expect(error?.description.hasPrefix("environment RUNJOURNAL_STREAM_HEARTBEAT: unknown setting") == true)
        #expect(Self.error(environment: ["RUNJOURNAL_NOW": "2026-01-01T00:00:00Z"]) == nil)
    }

    @Test("a bad value is refused naming the source and the key", arguments: [
        ("environment", "RUNJOURNAL_STREAM_MAX_STREAMS", "lots", "environment RUNJOURNAL_STREAM_MAX_STREAMS: bad value for stream.max_streams: must be a whole number >= 0 (got \"lots\")"),
        ("environment", "RUNJOURNAL_STREAM_HEARTBEAT_SECONDS", "0", "environment RUNJOURNAL_STREAM_HEARTBEAT_SECONDS: bad value for stream.heartbeat_seconds: must be a whole number >= 1 (got 0)"),
        ("environment", "RUNJOURNAL_FSYNC", "sometimes", "environment RUNJOURNAL_FSYNC: bad value for fsync: must be always, never or interval:<ms> (got \"sometimes\")"),
        ("environment", "RUNJOURNAL_LOG_LEVEL", "loud", "environment RUNJOURNAL_LOG_LEVEL: bad value for log.level: must be one of trace, debug, info, notice, warning, error, critical (got \"loud\")"),
        ("environment", "RUNJOURNAL_STREAM_IDLE_TIMEOUT", "never", "environment RUNJOURNAL_STREAM_IDLE_TIMEOUT: bad value for stream.idle_timeout: must be a whole number of seconds >= 1, or off (got \"never\")"),
        ("environment", "RUNJOURNAL_FILES_JOURNAL_MODE", "0644x", "environment RUNJOURNAL_FILES_JOURNAL_MODE: bad value for files.journal_mode"),
        ("environment", "RUNJOURNAL_FILES_JOURNAL_MODE", "0440", "environment RUNJOURNAL_FILES_JOURNAL_MODE: bad value for files.journal_mode"),
        ("environment", "RUNJOURNAL_LISTEN_ADDRESS", "localhost", "environment RUNJOURNAL_LISTEN_ADDRESS: bad value for listen.address: must be HOST:PORT (got \"localhost\")"),
        ("environment", "RUNJOURNAL_LIFECYCLE_SWEEP_INTERVAL_SECONDS", "-1", "environment RUNJOURNAL_LIFECYCLE_SWEEP_INTERVAL_SECONDS: bad value for lifecycle.sweep_interval_seconds"),
    ])
    func badEnvironmentValue(_ kind: String, variable: String, value: String, message: String) {
        let error = Self.error(environment: [variable: value])
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test("a value of the wrong type in the file is refused naming the file and the key", arguments: ["yaml", "json"])
    func badFileValue(format: String) throws {
        let text = format == "yaml" ? "stream:\n  heartbeat_seconds: soon\n" : #"{"stream":{"heartbeat_seconds":"soon"}}"#
        let file = try ConfigFile("c.\(format)", text)
        let error = Self.error(file: file.path)
        #expect(
            error?.description == "config file \(file.path): bad value for stream.heartbeat_seconds: must be a whole number >= 1 (got \"soon\")",
            "\(String(describing: error))")
    }

    @Test("a file mode must be an octal string: a JSON number is refused")
    func fileModeAsNumber() throws {
        let file = try ConfigFile("c.json", #"{"files":{"journal_mode":416}}"#)
        let error = Self.error(file: file.path)
        #expect(error?.description.hasPrefix("config file \(file.path): bad value for files.journal_mode") == true, "\(String(describing: error))")
    }

    @Test("a bad value is refused even where a higher source overrides it")
    func badOverriddenValue() throws {
        let file = try ConfigFile("c.yaml", "stream:\n  retry_ms: -5\n")
        let error = Self.error(file: file.path, flags: ["stream.retry_ms": .int(100)])
        #expect(error == .badValue(source: .configFile(path: file.path), key: "stream.retry_ms", expected: "must be a whole number >= 0", got: "-5"))
    }

    @Test("a flag's bad value names the flag")
    func badFlag() {
        let error = Self.error(flags: ["stream.idle_timeout": .string("never")])
        #expect(error?.description.hasPrefix("flag --idle-timeout: bad value for stream.idle_timeout") == true, "\(String(describing: error))")
    }

    @Test("a missing, unparsable or unnamed file is refused naming it")
    func badFiles() throws {
        #expect(Self.error(file: "/nonexistent/runjournal.yaml")?.description.hasPrefix("config file /nonexistent/runjournal.yaml: cannot read it") == true)
        let broken = try ConfigFile("c.json", #"{"stream": "#)
        #expect(Self.error(file: broken.path)?.description.hasPrefix("config file \(broken.path): cannot parse it") == true)
        let yamlList = try ConfigFile("c.yaml", "- a\n- b\n")
        #expect(Self.error(file: yamlList.path)?.description.hasPrefix("config file \(yamlList.path): cannot parse it") == true)
        let toml = try ConfigFile("c.toml", "a = 1\n")
        #expect(Self.error(file: toml.path)?.description == "config file \(toml.path): cannot parse it: the name must end in .json, .yaml or .yml")
    }

    // MARK: The shipped example

    static var shippedExample: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/runjournal.yaml").path
    }

    @Test("deploy/runjournal.yaml is valid and documents every key, each with its flag")
    func shippedExampleDocumentsEveryKey() throws {
        let resolved = try Self.resolve(file: Self.shippedExample)
        let text = try String(contentsOfFile: Self.shippedExample, encoding: .utf8)
        for key in SettingKey.all {
            let leaf = key.name.split(separator: ".").last!
            #expect(text.contains("\(leaf):"), "\(key.name) is not in deploy/runjournal.yaml")
            #expect(text.contains(key.flag), "\(key.flag) is not in deploy/runjournal.yaml")
        }
        // Its values are the defaults, but for the paths a packaged service uses.
        var expected = ServeSettings()
        expected.journalDirectory = "/var/lib/runjournal"
        expected.socketPath = "/run/runjournal/rj.sock"
        #expect(resolved.settings == expected)
    }

    @Test("config check output: one line per key with value and source")
    func report() throws {
        let resolved = try Self.resolve(environment: ["RUNJOURNAL_STREAM_IDLE_TIMEOUT": "off"], flags: ["files.journal_mode": .string("600")])
        let lines = ConfigurationReport.render(resolved).split(separator: "\n").map(String.init)
        #expect(lines.count == SettingKey.all.count + 1)
        let idle = try #require(lines.first { $0.hasPrefix("stream.idle_timeout ") })
        #expect(idle.contains(" off ") && idle.hasSuffix("# environment RUNJOURNAL_STREAM_IDLE_TIMEOUT"), "\(idle)")
        let mode = try #require(lines.first { $0.hasPrefix("files.journal_mode ") })
        #expect(mode.contains(" 0600 ") && mode.hasSuffix("# flag --journal-file-mode"), "\(mode)")
        let sweep = try #require(lines.first { $0.hasPrefix("lifecycle.sweep_interval_seconds ") })
        #expect(sweep.contains(" 10 ") && sweep.hasSuffix("# default"), "\(sweep)")
    }
}
