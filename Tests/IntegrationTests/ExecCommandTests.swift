import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `runjournal exec`, through the real binary: each mapping of output and exit to events, stop requests
/// (SIGTERM honoured, SIGTERM ignored), signals passed on, taking over a queued run, descriptors, batching.
@Suite struct ExecCommandTests {
    /// The events of `run` in `directory`, parsed.
    static func events(_ directory: String, _ run: String) -> [[String: Any]] {
        OpsJournal.text(directory, run).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    static func data(_ event: [String: Any]?) -> [String: Any] { event?["data"] as? [String: Any] ?? [:] }

    /// Runs `runjournal exec --id run -- command...` to completion.
    func exec(_ journal: TemporaryDirectory, _ run: String, _ command: [String], options: [String] = []) throws -> OpsCLI.Result {
        try OpsCLI.run(["exec", "--journal", journal.path, "--id", run] + options + ["--"] + command)
    }

    @Test func exitZeroCompletesWithEachStdoutLine() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        let result = try exec(journal, "ok", ["sh", "-c", "echo hello; echo world"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr == "ok\n")
        let events = Self.events(journal.path, "ok")
        #expect(events.map { $0["type"] as? String } == ["run.created", "run.started", "stdout", "stdout", "run.completed"])
        let started = Self.data(events[1])
        #expect(started["argv"] as? [String] == ["sh", "-c", "echo hello; echo world"])
        #expect((started["pid"] as? Int ?? 0) > 0)
        #expect(started["cwd"] as? String == FileManager.default.currentDirectoryPath)
        #expect(Self.data(events[2])["line"] as? String == "hello")
        #expect(Self.data(events[3])["line"] as? String == "world")
        let completed = Self.data(events[4])
        #expect(completed["exit_code"] as? Int == 0)
        #expect(completed["duration_ms"] is Int)
    }

    @Test func nonZeroExitFailsWithTheCodeAndStderrLines() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        let result = try exec(journal, "three", ["sh", "-c", "echo oops >&2; exit 3"])
        #expect(result.status == 3, "\(result)")
        let events = Self.events(journal.path, "three")
        #expect(events.map { $0["type"] as? String } == ["run.created", "run.started", "stderr", "run.failed"])
        #expect(Self.data(events[2])["line"] as? String == "oops")
        let failed = Self.data(events.last)
        #expect(failed["reason"] as? String == "exit_code")
        #expect(failed["exit_code"] as? Int == 3)
        #expect(failed["duration_ms"] is Int)
    }

    @Test(arguments: [("SEGV", "SIGSEGV", Int32(139)), ("KILL", "SIGKILL", Int32(137))])
    func aSignalFailsTheRunAndExitsWith128PlusIt(signal: String, name: String, status: Int32) throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        let result = try exec(journal, "sig", ["sh", "-c", "kill -\(signal) $$"])
        #expect(result.status == status, "\(result)")
        let failed = Self.events(journal.path, "sig").last
        #expect(failed?["type"] as? String == "run.failed")
        #expect(Self.data(failed)["reason"] as? String == "signal")
        #expect(Self.data(failed)["signal"] as? String == name)
    }

    @Test func jsonLinesWithAnOrdinaryTypeBecomeThatEvent() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        let script = #"""
            printf '%s\n' '{"type":"progress","data":{"pct":50}}' '{"type":"note"}' '{"type":"run.completed","data":{}}' \
              '{"type":"Bad Type","data":{}}' '{"type":7}' 'plain'
            """#
        let result = try exec(journal, "json", ["sh", "-c", script])
        #expect(result.status == 0, "\(result)")
        let events = Array(Self.events(journal.path, "json").dropFirst(2).dropLast())
        #expect(events.map { $0["type"] as? String } == ["progress", "note", "stdout", "stdout", "stdout", "stdout"])
        #expect(Self.data(events[0])["pct"] as? Int == 50)
        #expect(Self.data(events[1]).isEmpty)
        #expect(Self.data(events[2])["line"] as? String == #"{"type":"run.completed","data":{}}"#)
        #expect(Self.events(journal.path, "json").last?["type"] as? String == "run.completed")
    }

    @Test func invalidUTF8IsReplacedNotDropped() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        let result = try exec(journal, "utf", ["sh", "-c", #"printf 'a\377b\n'; printf '\303\251t\303\251\n' >&2"#])
        #expect(result.status == 0, "\(result)")
        let events = Self.events(journal.path, "utf")
        #expect(Self.data(events.first { $0["type"] as? String == "stdout" })["line"] as? String == "a\u{FFFD}b")
        #expect(Self.data(events.first { $0["type"] as? String == "stderr" })["line"] as? String == "été")
    }

    @Test func longLinesAreSplitAndALastLineWithoutNewlineIsKept() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        // 150,000 bytes and no newline: two 64 KiB pieces marked continued, then the rest.
        let result = try exec(journal, "long", ["sh", "-c", "head -c 150000 /dev/zero | tr '\\0' x"])
        #expect(result.status == 0, "\(result)")
        let pieces = Self.events(journal.path, "long").filter { $0["type"] as? String == "stdout" }.map(Self.data)
        #expect(pieces.map { ($0["line"] as? String)?.count ?? -1 } == [65536, 65536, 150000 - 2 * 65536])
        #expect(pieces.map { $0["continued"] as? Bool ?? false } == [true, true, false])

        let short = try exec(journal, "tail", ["printf", "no newline"])
        #expect(short.status == 0, "\(short)")
        #expect(Self.data(Self.events(journal.path, "tail").first { $0["type"] as? String == "stdout" })["line"] as? String == "no newline")
    }

    /// Kills the command exec started (its process group), whatever happened: exec killed by a failing test
    /// would leave it behind, in its own process group.
    static func killCommand(_ directory: String, _ run: String) {
        let all = events(directory, run)
        // After a terminal event exec has reaped the command; its pid may belong to someone else by now.
        guard !all.contains(where: { ["run.completed", "run.failed", "run.stopped"].contains($0["type"] as? String) }) else { return }
        let started = all.first { $0["type"] as? String == "run.started" }
        if let pid = data(started)["pid"] as? Int, pid > 0 { _ = kill(-pid_t(pid), SIGKILL) }
    }

    /// Starts `exec` in the background and waits for its run.started.
    func startLive(_ journal: TemporaryDirectory, _ run: String, _ command: [String], options: [String] = []) throws -> ChildProcess {
        let child = try ChildProcess(
            executable: try TestPaths.runjournalBinary(),
            arguments: ["exec", "--journal", journal.path, "--id", run] + options + ["--"] + command,
            environment: OpsCLI.environment())
        let deadline = ContinuousClock.now + .seconds(60)
        while !OpsJournal.types(journal.path, run).contains("run.started") && ContinuousClock.now < deadline { usleep(10_000) }
        return child
    }

    @Test func aStopRequestEndsTheRunWithSIGTERM() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        let exec = try startLive(journal, "stop", ["sleep", "1000"])
        defer { Self.killCommand(journal.path, "stop") }
        let stop = try OpsCLI.run(["stop", "--journal", journal.path, "stop"])
        #expect(stop.status == 0, "\(stop)")
        let status = exec.wait(timeout: .seconds(60))
        #expect(status.flatMap(ChildProcess.exitCode) == 128 + SIGTERM)
        let last = Self.events(journal.path, "stop").last
        #expect(last?["type"] as? String == "run.stopped")
        #expect(Self.data(last)["reason"] as? String == "stop_requested")
        #expect(Self.data(last)["signal"] as? String == "SIGTERM")
    }

    @Test func aStopPostedThroughNginxEndsTheRun() async throws {
        let stack = try E2EStack.shared()
        let id = e2eUniqueID("exec-stop")
        let exec = try ChildProcess(
            executable: try TestPaths.runjournalBinary(),
            arguments: ["exec", "--journal", stack.journalDirectory, "--id", id, "--", "sleep", "1000"],
            environment: OpsCLI.environment())
        defer { Self.killCommand(stack.journalDirectory, id) }
        let deadline = ContinuousClock.now + .seconds(60)
        while !OpsJournal.types(stack.journalDirectory, id).contains("run.started") && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let stop = try await stack.client(.nginx).post("/v1/runs/\(id)/stop")
        #expect(stop.status == 202, "\(stop.text)")
        let status = await exec.exited(within: .seconds(60))
        #expect(status.flatMap(ChildProcess.exitCode) == 128 + SIGTERM)
        let last = Self.events(stack.journalDirectory, id).last
        #expect(last?["type"] as? String == "run.stopped")
        #expect(Self.data(last)["reason"] as? String == "stop_requested")
    }

    @Test func aChildIgnoringSIGTERMIsKilledAfterTheGrace() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        let exec = try startLive(journal, "stubborn", ["sh", "-c", "trap '' TERM; sleep 1000"], options: ["--stop-grace", "1"])
        defer { Self.killCommand(journal.path, "stubborn") }
        #expect(try OpsCLI.run(["stop", "--journal", journal.path, "stubborn"]).status == 0)
        let status = exec.wait(timeout: .seconds(60))
        #expect(status.flatMap(ChildProcess.exitCode) == 128 + SIGKILL)
        let last = Self.events(journal.path, "stubborn").last
        #expect(last?["type"] as? String == "run.stopped")
        #expect(Self.data(last)["signal"] as? String == "SIGKILL")
    }

    @Test func sigintToExecIsPassedOnToTheChild() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        let exec = try startLive(journal, "int", ["sleep", "1000"])
        defer { Self.killCommand(journal.path, "int") }
        exec.signal(SIGINT)
        let status = exec.wait(timeout: .seconds(60))
        #expect(status.flatMap(ChildProcess.exitCode) == 128 + SIGINT)
        let last = Self.events(journal.path, "int").last
        #expect(last?["type"] as? String == "run.failed")
        #expect(Self.data(last)["signal"] as? String == "SIGINT")
    }

    @Test func aQueuedRunIsTakenOverAndAStartedOneRefused() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        #expect(try OpsCLI.run(["create", "--journal", journal.path, "--id", "queued"]).status == 0)
        let result = try exec(journal, "queued", ["true"])
        #expect(result.status == 0, "\(result)")
        #expect(OpsJournal.types(journal.path, "queued") == ["run.created", "run.started", "run.completed"])

        let before = OpsJournal.text(journal.path, "queued")
        let again = try exec(journal, "queued", ["true"])
        #expect(again.status == 1, "\(again)")
        #expect(again.stderr.contains("already exists and is completed"))
        #expect(OpsJournal.text(journal.path, "queued") == before)
    }

    @Test func theChildSeesOnlyDescriptorsZeroOneAndTwo() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        // The shell's own descriptors, listed by ls (another process, whose own directory handle is not in them).
        let result = try exec(journal, "fds", ["sh", "-c", "ls /proc/$$/fd"])
        #expect(result.status == 0, "\(result)")
        let lines = Self.events(journal.path, "fds").filter { $0["type"] as? String == "stdout" }.map { Self.data($0)["line"] as? String }
        #expect(lines == ["0", "1", "2"])
    }

    @Test func outputThatArrivesTogetherIsAppendedTogether() throws {
        let journal = try TemporaryDirectory(prefix: "exec")
        let result = try exec(journal, "many", ["seq", "1", "100000"])
        #expect(result.status == 0, "\(result)")
        let lines = OpsJournal.text(journal.path, "many").split(separator: "\n")
        let output = lines.filter { $0.contains(#""type":"stdout""#) }
        #expect(output.count == 100_000)
        #expect(output.last?.contains(#""line":"100000""#) == true)
        // A batch's lines all carry "more":true but its last: each line without it ends one batch (one fsync).
        let batches = output.filter { !$0.contains(#""more":true"#) }.count
        #expect(batches < 5_000, "\(batches) batches for 100,000 lines")
    }
}
