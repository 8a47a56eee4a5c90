import Foundation
import Testing

/// One configuration from three sources, through the real binary: `config check` shows what `serve` would use,
/// `serve` uses it, and a bad configuration stops `serve` at start with the source and the key.
@Suite("Configuration: config file, RUNJOURNAL_* environment and flags")
struct ConfigurationTests {
    /// `runjournal <arguments>` with exactly `environment` among RUNJOURNAL_* variables.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> OpsCLI.Result {
        try OpsCLI.run(arguments, environment: environment)
    }

    /// The `config check` line of `key`.
    static func line(_ key: String, in output: String) -> String? {
        output.split(separator: "\n").map(String.init).first { $0.hasPrefix(key + " ") }
    }

    @Test("config check: a flag beats the environment, which beats the file; each value names its source")
    func checkShowsPrecedenceAndSources() throws {
        let directory = try TemporaryDirectory(prefix: "cfg")
        defer { directory.remove() }
        let secret = "SIGNING-KEY-CONTENT-\(UUID().uuidString)"
        try secret.write(toFile: directory.file("signing.key"), atomically: true, encoding: .utf8)
        let file = directory.file("runjournal.yaml")
        try """
            stream:
              heartbeat_seconds: 20
              retry_ms: 2000
              max_streams: 7
            auth:
              signing_key_file: \(directory.file("signing.key"))
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Self.run(
            ["config", "check", "--config", file, "--heartbeat", "30"],
            environment: ["RUNJOURNAL_STREAM_HEARTBEAT_SECONDS": "25", "RUNJOURNAL_STREAM_RETRY_MS": "500"])
        try #require(result.status == 0, "\(result)")
        let output = result.stdout
        #expect(Self.line("stream.heartbeat_seconds", in: output)?.hasSuffix("# flag --heartbeat") == true, "\(output)")
        #expect(Self.line("stream.heartbeat_seconds", in: output)?.contains(" 30 ") == true)
        #expect(Self.line("stream.retry_ms", in: output)?.hasSuffix("# environment RUNJOURNAL_STREAM_RETRY_MS") == true)
        #expect(Self.line("stream.retry_ms", in: output)?.contains(" 500 ") == true)
        #expect(Self.line("stream.max_streams", in: output)?.hasSuffix("# config file \(file)") == true)
        #expect(Self.line("stream.max_streams", in: output)?.contains(" 7 ") == true)
        #expect(Self.line("stream.stop_grace_seconds", in: output)?.hasSuffix("# default") == true)
        #expect(Self.line("auth.signing_key_file", in: output)?.contains(directory.file("signing.key")) == true)
        #expect(!output.contains(secret), "config check printed the signing key's contents")
        // Every setting is listed, the ones whose features are built elsewhere included.
        for key in ["journal.dir", "listen.socket", "listen.address", "fsync", "stream.idle_timeout", "http.max_body_bytes",
                    "http.body_budget_bytes", "tailer.mode", "tailer.poll_interval_ms", "lifecycle.sweep_interval_seconds",
                    "shutdown.grace_seconds", "auth.tokens_file", "log.level", "files.journal_mode", "files.directory_mode"] {
            #expect(Self.line(key, in: output) != nil, "\(key) missing from config check")
        }
    }

    @Test("config check reads the shipped deploy/runjournal.yaml and a JSON file alike")
    func checkReadsShippedYAMLAndJSON() throws {
        let shipped = try Self.run(["config", "check", "--config", TestPaths.deploy("runjournal.yaml")])
        #expect(shipped.status == 0, "\(shipped)")
        #expect(Self.line("journal.dir", in: shipped.stdout)?.contains("/var/lib/runjournal") == true, "\(shipped.stdout)")

        let directory = try TemporaryDirectory(prefix: "cfg")
        defer { directory.remove() }
        try #"{"tailer":{"mode":"poll","poll_interval_ms":100},"stream":{"idle_timeout":"off"}}"#
            .write(toFile: directory.file("c.json"), atomically: true, encoding: .utf8)
        let json = try Self.run(["config", "check", "--config", directory.file("c.json")])
        #expect(json.status == 0, "\(json)")
        #expect(Self.line("tailer.mode", in: json.stdout)?.contains(" poll ") == true, "\(json.stdout)")
        #expect(Self.line("stream.idle_timeout", in: json.stdout)?.contains(" off ") == true)
    }

    @Test("serve uses the resolved values: max streams from the environment over the file, heartbeat from the flag")
    func serveUsesTheResolvedValues() throws {
        let directory = try TemporaryDirectory(prefix: "cfg")
        defer { directory.remove() }
        let journal = try directory.makeDirectory("journal")
        let file = directory.file("runjournal.yaml")
        try "stream:\n  max_streams: 3\n  heartbeat_seconds: 20\nlog:\n  level: info\n".write(toFile: file, atomically: true, encoding: .utf8)
        let socket = directory.file("rj.sock")
        let server = try RunJournalProcess(
            arguments: ["serve", "--config", file, "--journal", journal, "--socket", socket, "--heartbeat", "7"],
            directory: directory,
            environment: ChildProcess.inheritedEnvironment.merging(["RUNJOURNAL_STREAM_MAX_STREAMS": "4"]) { $1 })
        defer { server.stop() }
        try #require(waitUntil(timeout: .seconds(30)) { !server.isRunning || server.stderr.contains("FastCGI responder listening") }, "\(server.stderr)")
        let log = server.stderr
        #expect(log.contains("maxStreams=4"), "\(log)")
        #expect(log.contains("heartbeat=7s"), "\(log)")
    }

    @Test("serve refuses a bad configuration at start, exit 2, naming the source and the key", arguments: [
        ("file", "stream:\n  heartbeat: 5\n", [:], [], "unknown key \"stream.heartbeat\""),
        ("file", "stream:\n  max_streams: many\n", [:], [], "bad value for stream.max_streams"),
        ("environment", "", ["RUNJOURNAL_STREAM_HEARTBEAT": "5"], [], "environment RUNJOURNAL_STREAM_HEARTBEAT: unknown setting"),
        ("environment", "", ["RUNJOURNAL_STREAM_MAX_STREAMS": "many"], [],
         "environment RUNJOURNAL_STREAM_MAX_STREAMS: bad value for stream.max_streams: must be a whole number >= 0 (got \"many\")"),
        ("environment", "", ["RUNJOURNAL_LOG_LEVEL": "loud"], [], "environment RUNJOURNAL_LOG_LEVEL: bad value for log.level"),
        ("flag", "", [:], ["--idle-timeout", "never"], "flag --idle-timeout: bad value for stream.idle_timeout"),
        ("flag", "", [:], ["--journal-file-mode", "0444"], "flag --journal-file-mode: bad value for files.journal_mode"),
    ] as [(String, String, [String: String], [String], String)])
    func serveRefusesBadConfiguration(source: String, fileText: String, environment: [String: String], flags: [String], message: String) throws {
        let directory = try TemporaryDirectory(prefix: "cfg")
        defer { directory.remove() }
        let journal = try directory.makeDirectory("journal")
        var arguments = ["serve", "--journal", journal, "--socket", directory.file("rj.sock")] + flags
        if !fileText.isEmpty {
            try fileText.write(toFile: directory.file("c.yaml"), atomically: true, encoding: .utf8)
            arguments += ["--config", directory.file("c.yaml")]
        }
        let result = try Self.run(arguments, environment: environment)
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains(message), "\(result)")
        if !fileText.isEmpty { #expect(result.stderr.contains("config file \(directory.file("c.yaml"))"), "\(result)") }
        #expect(!FileManager.default.fileExists(atPath: directory.file("rj.sock")), "serve started anyway")
        // config check gives the same answer.
        let check = try Self.run(["config", "check"] + Array(arguments.dropFirst()), environment: environment)
        #expect(check.status == 2 && check.stderr.contains(message), "\(check)")
    }
}
