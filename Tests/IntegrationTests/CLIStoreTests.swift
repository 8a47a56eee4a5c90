import Foundation
import RunJournal
import Testing

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Running the built CLI

/// The `runjournal` binary built next to this test binary, run with its stdin, stdout and stderr in files
/// (no pipes, so a chatty child can never deadlock against the test).
enum StoreCLI {
    struct Result: CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String
        var stderrLines: [Substring] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast() }
        var description: String { "exit \(status), stdout \(stdout.debugDescription), stderr \(stderr.debugDescription)" }
    }

    /// `$RUNJOURNAL_BINARY`, else `runjournal` in the directory of the running test binary (SwiftPM builds
    /// every executable product there; on Darwin the test binary sits inside a `.xctest` bundle).
    static let binary: String = {
        if let explicit = ProcessInfo.processInfo.environment["RUNJOURNAL_BINARY"] { return explicit }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while directory.path != "/", directory.path.contains(".xctest") { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("runjournal").path
    }()

    /// A running child; `wait()` collects its exit status and output.
    final class Child: @unchecked Sendable {
        let process = Process()
        let scratch: String

        init(
            _ arguments: [String], stdin: [UInt8]?, environment: [String: String], workingDirectory: String?,
            executable: String = StoreCLI.binary
        ) throws {
            guard access(executable, X_OK) == 0 else {
                throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: executable])
            }
            scratch = NSTemporaryDirectory() + "/runjournal-cli-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: scratch + "/in", contents: Data(stdin ?? []))
            _ = FileManager.default.createFile(atPath: scratch + "/out", contents: nil)
            _ = FileManager.default.createFile(atPath: scratch + "/err", contents: nil)
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            env["RUNJOURNAL_DIR"] = nil
            for (key, value) in environment { env[key] = value }
            process.environment = env
            if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
            process.standardInput = FileHandle(forReadingAtPath: scratch + "/in")
            process.standardOutput = FileHandle(forWritingAtPath: scratch + "/out")
            process.standardError = FileHandle(forWritingAtPath: scratch + "/err")
            try process.run()
        }

        func wait() -> Result {
            process.waitUntilExit()
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let out = FileManager.default.contents(atPath: scratch + "/out") ?? Data()
            let err = FileManager.default.contents(atPath: scratch + "/err") ?? Data()
            let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
            return Result(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
        }
    }

    static func start(
        _ arguments: [String], stdin: [UInt8]? = nil, environment: [String: String] = [:], workingDirectory: String? = nil
    ) throws -> Child {
        try Child(arguments, stdin: stdin, environment: environment, workingDirectory: workingDirectory)
    }

    @discardableResult
    static func run(
        _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], workingDirectory: String? = nil,
        executable: String = binary
    ) throws -> Result {
        try Child(
            arguments, stdin: stdin.map { Array($0.utf8) }, environment: environment, workingDirectory: workingDirectory,
            executable: executable
        ).wait()
    }
}

/// A fresh journal directory (inside a fresh parent, so tests can also point at a missing sibling).
final class StoreScratchDirectory: @unchecked Sendable {
    let parent: String
    let journal: String

    init() throws {
        var template = Array("/tmp/rj-cli-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw CocoaError(.fileWriteUnknown)
        }
        parent = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        journal = parent + "/journal"
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: false)
    }

    deinit { try? FileManager.default.removeItem(atPath: parent) }

    func path(_ run: String) -> String { journal + "/" + run + ".jsonl" }

    /// Every file in the journal directory with its bytes: a failed command must leave this unchanged.
    func snapshot() -> [String: Data] {
        var result: [String: Data] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: journal)) ?? [] {
            result[name] = FileManager.default.contents(atPath: journal + "/" + name)
        }
        return result
    }

    func text(_ run: String) -> String {
        String(decoding: FileManager.default.contents(atPath: path(run)) ?? Data(), as: UTF8.self)
    }

    func lines(_ run: String) -> [String] {
        text(run).split(separator: "\n").map(String.init)
    }
}

// MARK: - Tests

@Suite("runjournal CLI: store commands")
struct CLIStoreTests {
    let dir: StoreScratchDirectory

    init() throws { dir = try StoreScratchDirectory() }

    /// Puts `--journal DIR` after the subcommand name (it is a subcommand option).
    private static func withJournal(_ arguments: [String], _ journal: String) -> [String] {
        guard let command = arguments.first else { return arguments }
        return [command, "--journal", journal] + arguments.dropFirst()
    }

    /// Runs a command that must fail: checks the exit code, that stderr is exactly one `runjournal: …` line
    /// containing `message`, that nothing went to stdout, and that the journal directory is byte-identical.
    private func expectFailure(
        _ arguments: [String], stdin: String? = nil, status: Int32, message: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let before = dir.snapshot()
        let result = try StoreCLI.run(Self.withJournal(arguments, dir.journal), stdin: stdin)
        #expect(result.status == status, "\(arguments): \(result)", sourceLocation: sourceLocation)
        #expect(result.stderrLines.count == 1, "\(arguments): \(result)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasPrefix("runjournal: "), "\(arguments): \(result)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(message), "\(arguments): \(result)", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, "\(arguments): \(result)", sourceLocation: sourceLocation)
        #expect(dir.snapshot() == before, "\(arguments) changed the journal directory", sourceLocation: sourceLocation)
    }

    private func makeRun(_ id: String = "r1", metadata: String? = nil) throws {
        var arguments = ["create", "--id", id]
        if let metadata { arguments += ["--metadata", metadata] }
        let result = try cli(arguments)
        #expect(result.status == 0, "\(result)")
    }

    @discardableResult
    private func cli(_ arguments: [String], stdin: String? = nil) throws -> StoreCLI.Result {
        try StoreCLI.run(Self.withJournal(arguments, dir.journal), stdin: stdin)
    }

    @Test("the runjournal binary is built next to the tests")
    func binaryExists() {
        #expect(access(StoreCLI.binary, X_OK) == 0, "no executable at \(StoreCLI.binary)")
    }

    @Test("create prints the id it made and writes run.created with compact metadata")
    func create() throws {
        var result = try cli(["create", "--id", "job-1", "--metadata", #" { "a" : [1, 2] } "#])
        #expect(result.status == 0)
        #expect(result.stdout == "job-1\n")
        #expect(result.stderr.isEmpty)
        let lines = dir.lines("job-1")
        #expect(lines.count == 1)
        #expect(lines[0].hasPrefix(#"{"seq":1,"ts":""#))
        #expect(lines[0].hasSuffix(#"","type":"run.created","data":{"metadata":{"a":[1,2]}}}"#))

        result = try cli(["create"])
        #expect(result.status == 0)
        let generated = result.stdout.trimmingCharacters(in: .newlines)
        #expect(generated.hasPrefix("run_") && generated.count == 30, "\(result)")
        #expect(FileManager.default.fileExists(atPath: dir.path(generated)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.journal).sorted() == ["job-1.jsonl", generated + ".jsonl"].sorted())
    }

    @Test("append prints the seq, a batch prints first-last, --each prints one seq per line")
    func append() throws {
        try makeRun()
        var result = try cli(["append", "r1", "run.started"])
        #expect(result.status == 0 && result.stdout == "2\n", "\(result)")
        result = try cli(["append", "r1", "step", #"{ "x" : [1, 2] }"#])
        #expect(result.status == 0 && result.stdout == "3\n", "\(result)")
        result = try cli(["append", "r1", "-"], stdin: "{\"type\":\"a\"}\n\n{\"type\":\"b\",\"data\":{\"k\": 1}}\n")
        #expect(result.status == 0 && result.stdout == "4-5\n", "\(result)")
        result = try cli(["append", "r1", "-", "--each"], stdin: "{\"type\":\"c\"}\n{\"type\":\"d\",\"data\":null}\n")
        #expect(result.status == 0 && result.stdout == "6\n7\n", "\(result)")
        result = try cli(["append", "r1", "run.completed", #"{"reason":"ok"}"#, "--fsync", "interval:50"])
        #expect(result.status == 0 && result.stdout == "8\n", "\(result)")
        #expect(result.stderr.isEmpty)

        let types = dir.lines("r1").map { line -> String in
            let start = line.range(of: #""type":""#)!.upperBound
            return String(line[start...].prefix { $0 != "\"" })
        }
        #expect(types == ["run.created", "run.started", "step", "a", "b", "c", "d", "run.completed"])
        #expect(dir.lines("r1")[2].hasSuffix(#""data":{"x":[1,2]}}"#))
        #expect(dir.lines("r1")[6].hasSuffix(#""data":null}"#))
        #expect(try JournalVerifier.verify(path: dir.path("r1")).isClean)
    }

    @Test("show prints the run summary JSON")
    func show() throws {
        try makeRun(metadata: #"{"owner":"ci"}"#)
        try cli(["append", "r1", "run.started"])
        let result = try cli(["show", "r1"])
        #expect(result.status == 0, "\(result)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["id"] as? String == "r1")
        #expect(object?["status"] as? String == "running")
        #expect(object?["stop_requested"] as? Bool == false)
        #expect(object?["last_seq"] as? Int == 2)
        #expect((object?["metadata"] as? [String: String]) == ["owner": "ci"])
        #expect(result.stdout.hasPrefix(#"{"id":"r1","status":"running","stop_requested":false,"created_at":""#))
        #expect(result.stdout.hasSuffix(#","last_seq":2,"metadata":{"owner":"ci"}}"# + "\n"))
    }

    @Test("verify reports ok journals with exit 0 and problems with exit 1")
    func verify() throws {
        try makeRun("a")
        try makeRun("b")
        var result = try cli(["verify"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == "a: ok (1 events)\nb: ok (1 events)\n")

        let bad = dir.text("b") + #"{"seq":3,"ts":"2026-11-25T01:02:03.456Z","type":"x","data":{}}"# + "\n"
        _ = FileManager.default.createFile(atPath: dir.path("b"), contents: Data(bad.utf8))
        result = try cli(["verify", "b"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("b: line 2: seq 3, expected 2"), "\(result)")
        #expect(result.stderrLines == ["runjournal: 1 of 1 journals have problems"])
        result = try cli(["verify", "a", "nope"])
        #expect(result.status == 1)
        #expect(result.stdout == "a: ok (1 events)\nnope: not found\n")
    }

    @Test("verify --repair truncates a torn tail and nothing else")
    func verifyRepair() throws {
        try makeRun()
        try cli(["append", "r1", "step"])
        let good = dir.text("r1")
        let handle = try #require(FileHandle(forWritingAtPath: dir.path("r1")))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"seq":3,"ts":"20"#.utf8))
        try handle.close()

        var result = try cli(["verify"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("r1: uncommitted tail (17 bytes: a torn line or an incomplete batch)"), "\(result)")
        result = try cli(["verify", "--repair"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("r1: repaired"), "\(result)")
        #expect(dir.text("r1") == good)
        #expect(try cli(["verify"]).status == 0)
    }

    @Test("the journal directory comes from --journal, else $RUNJOURNAL_DIR, else ./journal")
    func journalDirectoryResolution() throws {
        var result = try StoreCLI.run(["create", "--id", "env"], environment: ["RUNJOURNAL_DIR": dir.journal])
        #expect(result.status == 0, "\(result)")
        #expect(FileManager.default.fileExists(atPath: dir.path("env")))
        result = try StoreCLI.run(["create", "--id", "cwd"], workingDirectory: dir.parent)
        #expect(result.status == 0, "\(result)")
        #expect(FileManager.default.fileExists(atPath: dir.path("cwd")))
    }

    static let hostileRunIDs = ["../x", "a/b", ".hidden", "", String(repeating: "a", count: 65), "a b", "x.jsonl"]

    @Test("hostile run ids are usage errors (exit 2) and touch nothing", arguments: hostileRunIDs)
    func hostileIDs(id: String) throws {
        try makeRun()
        try expectFailure(["create", "--id", id], status: 2, message: "invalid run id")
        try expectFailure(["append", id, "step"], status: 2, message: "invalid run id")
        try expectFailure(["append", id, "-"], stdin: "{\"type\":\"a\"}\n", status: 2, message: "invalid run id")
        try expectFailure(["show", id], status: 2, message: "invalid run id")
        let verify = try cli(["verify", id])
        #expect(verify.status == 2, "\(verify)")
        #expect(!FileManager.default.fileExists(atPath: dir.parent + "/x.jsonl"))
    }

    @Test("bad JSON is refused with its byte offset, exit 1, nothing written")
    func badJSON() throws {
        try makeRun()
        try expectFailure(["append", "r1", "step", #"{"a": "#], status: 1, message: "invalid JSON at byte 6")
        try expectFailure(["append", "r1", "step", "{} {}"], status: 1, message: "invalid JSON at byte 3")
        try expectFailure(["create", "--id", "m", "--metadata", "{"], status: 1, message: "invalid JSON")
        try expectFailure(["create", "--id", "m", "--metadata", "[1]"], status: 1, message: "metadata must be a JSON object")
        // A batch with one bad line is refused whole.
        try expectFailure(
            ["append", "r1", "-"], stdin: "{\"type\":\"a\"}\n{\"type\":\"b\",\"data\":{\"k\":}\n", status: 1, message: "line 2, byte ")
        try expectFailure(["append", "r1", "-"], stdin: "{\"type\":\"a\",\"oops\":1}\n", status: 1, message: "unknown key")
        try expectFailure(["append", "r1", "-"], stdin: "\n\n", status: 1, message: "no events")
        try expectFailure(
            ["append", "r1", "-"], stdin: "{\"type\":\"a\"}\n{\"type\":\"run.completed\"}\n{\"type\":\"late\"}\n",
            status: 1, message: "invalid batch")
        #expect(dir.lines("r1").count == 1)
    }

    @Test("--each appends the lines before a bad one, then fails naming the line")
    func eachStopsAtBadLine() throws {
        try makeRun()
        let result = try cli(["append", "r1", "-", "--each"], stdin: "{\"type\":\"a\"}\n{\"type\":\"b\"}\nnot json\n{\"type\":\"c\"}\n")
        #expect(result.status == 1)
        #expect(result.stdout == "2\n3\n")
        #expect(result.stderrLines.count == 1)
        #expect(result.stderr.hasPrefix("runjournal: line 3: invalid JSON"), "\(result)")
        #expect(dir.lines("r1").count == 3)
    }

    @Test("unknown runs, finished runs, reserved types and taken ids fail with exit 1")
    func refusals() throws {
        try makeRun()
        try expectFailure(["append", "nope", "step"], status: 1, message: "run nope not found")
        try expectFailure(["show", "nope"], status: 1, message: "run nope not found")
        try expectFailure(["append", "r1", "run.created"], status: 1, message: "reserved")
        try expectFailure(["append", "r1", "run.stop_requested"], status: 1, message: "reserved")
        try expectFailure(["create", "--id", "r1"], status: 1, message: "run r1 already exists")
        #expect(try cli(["append", "r1", "run.failed", #"{"reason":"x"}"#]).status == 0)
        try expectFailure(["append", "r1", "step"], status: 1, message: "run r1 is already failed")
        try expectFailure(["append", "r1", "-"], stdin: "{\"type\":\"a\"}\n", status: 1, message: "already failed")
    }

    @Test("usage errors exit 2 and write nothing")
    func usageErrors() throws {
        try makeRun()
        try expectFailure(["append", "r1", "Not.A.Type"], status: 2, message: "invalid event type")
        try expectFailure(["append", "r1", "-", "{}"], status: 2, message: "no JSON argument")
        try expectFailure(["append", "r1", "step", "--each"], status: 2, message: "--each goes with -")
        for arguments in [["append", "r1"], ["frobnicate"], ["create", "--bogus"]] {
            let before = dir.snapshot()
            let result = try cli(arguments)
            #expect(result.status == 2, "\(arguments): \(result)")
            #expect(!result.stderr.isEmpty)
            #expect(dir.snapshot() == before)
        }
    }

    @Test("a bad --fsync policy is a usage error (exit 2) and writes nothing")
    func badFsync() throws {
        try makeRun()
        for arguments in [["append", "r1", "step", "--fsync", "bogus"], ["create", "--id", "n", "--fsync", "interval:0"]] {
            let before = dir.snapshot()
            let result = try cli(arguments)
            #expect(result.status == 2, "\(result)")
            #expect(result.stderr.contains("--fsync must be always, never or interval:<ms>"), "\(result)")
            #expect(result.stdout.isEmpty)
            #expect(dir.snapshot() == before)
            #expect(result.stderrLines.count == 1, "\(result)")
        }
    }

    @Test(
        "a write cut short by the file size limit leaves no partial line behind",
        .enabled(if: access("/usr/bin/prlimit", X_OK) == 0, "needs prlimit (util-linux)"),
        // A ThreadSanitizer binary cannot start under a file size limit of a few hundred bytes: the
        // sanitizer's runtime dies of SIGBUS before main (even for --help), so there is no write to cut
        // short. AddressSanitizer binaries run it.
        .disabled(if: SanitizerRun.name == "thread", "a ThreadSanitizer runjournal cannot start under RLIMIT_FSIZE"))
    func shortWriteIsUndone() throws {
        try makeRun()
        try cli(["append", "r1", "run.started"])
        let before = dir.snapshot()
        let size = try #require(before["r1.jsonl"]).count
        // RLIMIT_FSIZE lets the first write(2) through up to the limit and fails the next with EFBIG: a real
        // torn write. SIGXFSZ is ignored (and stays ignored across exec) so the error reaches the store.
        let text = String(repeating: "x", count: 300)
        let result = try StoreCLI.run(
            [
                "-c", #"trap "" XFSZ; exec /usr/bin/prlimit --fsize=$0 -- "$@""#, String(size + 40),
                StoreCLI.binary, "append", "--journal", dir.journal, "r1", "step", #"{"text":"\#(text)"}"#,
            ], executable: "/bin/sh")
        #expect(result.status == 1, "\(result)")
        // The limit is met by the space reservation (fallocate) or by the write itself; either way the bytes
        // are refused, the file is as it was, and the run stays appendable.
        #expect(result.stderrLines == ["runjournal: fallocate \(dir.path("r1")): File too large"]
            || result.stderrLines == ["runjournal: write \(dir.path("r1")): File too large"], "\(result)")
        #expect(dir.snapshot() == before)
        #expect(try cli(["append", "r1", "step"]).stdout == "3\n")
        #expect(try cli(["verify"]).status == 0)
    }

    @Test("a missing journal directory fails with exit 1 and one line, creating nothing")
    func missingDirectory() throws {
        let missing = dir.parent + "/missing"
        for arguments in [["create", "--id", "a"], ["append", "a", "step"], ["show", "a"], ["verify"]] {
            let result = try StoreCLI.run([arguments[0], "--journal", missing] + arguments.dropFirst())
            #expect(result.status == 1, "\(arguments): \(result)")
            #expect(result.stderrLines == ["runjournal: journal directory \(missing): No such file or directory"], "\(result)")
            #expect(result.stdout.isEmpty)
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }
}
