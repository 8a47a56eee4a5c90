import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Running the built `runjournal` for the ops-tool tests: one-shot commands with their output in files,
/// and live ones (`tail -f`) whose stdout is read as it is written.
enum OpsCLI {
    struct Result: CustomStringConvertible {
        /// The exit code; nil when the command was killed by a signal or did not finish in time.
        var status: Int32?
        var stdout: String
        var stderr: String
        var description: String { "exit \(status.map(String.init) ?? "none"), stdout \(stdout.debugDescription), stderr \(stderr.debugDescription)" }
    }

    /// The test process's environment without anything that changes the CLI's behaviour, plus `extra`.
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        // No RUNJOURNAL_* at all: they are settings of serve (an unknown one stops it) or the tests' own knobs.
        var environment = ChildProcess.inheritedEnvironment
        environment["NO_COLOR"] = nil
        environment.merge(extra) { $1 }
        return environment
    }

    /// Runs `runjournal <arguments>` to completion (at most `timeout`).
    static func run(
        _ arguments: [String], environment extra: [String: String] = [:], workingDirectory: String? = nil,
        timeout: Duration = .seconds(60)
    ) throws -> Result {
        try runExecutable(try TestPaths.runjournalBinary(), arguments, environment: extra, workingDirectory: workingDirectory, timeout: timeout)
    }

    /// Runs any executable to completion, stdout and stderr captured through files (a chatty child can
    /// never block on a full pipe).
    static func runExecutable(
        _ executable: String, _ arguments: [String], environment extra: [String: String] = [:],
        workingDirectory: String? = nil, timeout: Duration = .seconds(60)
    ) throws -> Result {
        let scratch = try TemporaryDirectory(prefix: "ops-out")
        let child = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment(extra),
            workingDirectory: workingDirectory, stdout: .file(scratch.file("out")), stderr: .file(scratch.file("err")))
        let status = child.wait(timeout: timeout)
        if status == nil { child.terminate(grace: .seconds(2)) }
        return Result(
            status: status.flatMap(ChildProcess.exitCode),
            stdout: (try? String(contentsOfFile: scratch.file("out"), encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: scratch.file("err"), encoding: .utf8)) ?? "")
    }

    /// The raw stdout bytes of a command (for byte-exact comparisons).
    static func runBytes(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (status: Int32?, stdout: [UInt8]) {
        let scratch = try TemporaryDirectory(prefix: "ops-out")
        let child = try ChildProcess(
            executable: try TestPaths.runjournalBinary(), arguments: arguments, environment: environment(extra),
            stdout: .file(scratch.file("out")), stderr: .discard)
        let status = child.wait(timeout: .seconds(60))
        if status == nil { child.terminate(grace: .seconds(2)) }
        let bytes = FileManager.default.contents(atPath: scratch.file("out")).map { [UInt8]($0) } ?? []
        return (status.flatMap(ChildProcess.exitCode), bytes)
    }

    /// The fixture journal directory (read-only: tests copy it before running anything that writes).
    static let fixture = TestPaths.repositoryRoot + "/Tests/IntegrationTests/Fixtures/ops-journal"

    /// A private copy of the fixture journal (`ls` writes its index, `prune` deletes).
    static func fixtureCopy() throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory(prefix: "ops-fx")
        for name in try FileManager.default.contentsOfDirectory(atPath: fixture) where name.hasSuffix(".jsonl") {
            try FileManager.default.copyItem(atPath: fixture + "/" + name, toPath: directory.file(name))
        }
        return directory
    }

    /// The clock every fixture expectation is computed against.
    static let fixtureNow = "2026-11-25T18:00:00Z"

    /// An empty journal directory for tests that create runs.
    static func emptyJournal() throws -> TemporaryDirectory { try TemporaryDirectory(prefix: "ops-j") }
}

/// A running `runjournal` command whose stdout is read by a thread as it arrives, so a test can wait for a
/// line to appear (a condition variable; no polling) and then act — append, delete, signal.
final class OpsLiveCommand: @unchecked Sendable {
    private let child: ChildProcess
    private let condition = NSCondition()
    private var buffer: [UInt8] = []
    private var closed = false
    private let scratch: TemporaryDirectory

    init(_ arguments: [String], environment extra: [String: String] = [:]) throws {
        scratch = try TemporaryDirectory(prefix: "ops-live")
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ChildProcess.SpawnError(description: "pipe failed") }
        // Both ends close-on-exec, so other children spawned by parallel tests do not keep the write end
        // (and our reader waiting) alive; the dup2 onto this child's stdout is not close-on-exec.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        do {
            child = try ChildProcess(
                executable: try TestPaths.runjournalBinary(), arguments: arguments, environment: OpsCLI.environment(extra),
                stdout: .fd(fds[1]), stderr: .file(scratch.file("err")))
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
        close(fds[1])
        let readEnd = fds[0]
        Thread.detachNewThread { [self] in
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress!, $0.count) }
                if count < 0 && errno == EINTR { continue }
                condition.lock()
                if count > 0 { buffer.append(contentsOf: chunk[..<count]) } else { closed = true }
                condition.broadcast()
                condition.unlock()
                if count <= 0 { break }
            }
            close(readEnd)
        }
    }

    var output: String {
        condition.lock()
        defer { condition.unlock() }
        return String(decoding: buffer, as: UTF8.self)
    }

    var stderr: String { (try? String(contentsOfFile: scratch.file("err"), encoding: .utf8)) ?? "" }

    /// Waits until stdout contains `text` (true) or `timeout` passes / stdout closes without it (false).
    @discardableResult
    func waitForOutput(containing text: String, timeout: Duration = .seconds(30)) -> Bool {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        let needle = Array(text.utf8)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if Self.contains(buffer, needle) { return true }
            if closed { return false }
            if !condition.wait(until: deadline) { return Self.contains(buffer, needle) }
        }
    }

    /// Waits for the command to exit; its exit code (nil: still running after `timeout`, or killed).
    func waitForExit(timeout: Duration = .seconds(30)) -> Int32? {
        child.wait(timeout: timeout).flatMap(ChildProcess.exitCode)
    }

    /// Waits until stdout is closed (the command exited and everything it wrote has been read).
    func waitForEndOfOutput(timeout: Duration = .seconds(30)) -> Bool {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        condition.lock()
        defer { condition.unlock() }
        while !closed {
            if !condition.wait(until: deadline) { return closed }
        }
        return true
    }

    func signal(_ signo: Int32) { child.signal(signo) }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        return Data(haystack).range(of: Data(needle)) != nil
    }

    deinit { child.terminate(grace: .seconds(2)) }
}

/// Journal lines as the tests write and compare them.
enum OpsJournal {
    /// The journal file of `run` in `directory`, as text.
    static func text(_ directory: String, _ run: String) -> String {
        (try? String(contentsOfFile: "\(directory)/\(run).jsonl", encoding: .utf8)) ?? ""
    }

    /// The `type` of every line of `run`'s journal.
    static func types(_ directory: String, _ run: String) -> [String] {
        text(directory, run).split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["type"] as? String
        }
    }

    static func exists(_ directory: String, _ run: String) -> Bool {
        access("\(directory)/\(run).jsonl", F_OK) == 0
    }
}
