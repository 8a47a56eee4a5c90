import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `runjournal replay`: a run's stream offline from its journal file alone, byte for byte what the server
/// sends.
@Suite struct CLIOpsReplayTests {
    /// agent-research-41's stream resumed after seq 3, as the server frames it.
    static let research41AfterThree = """
        retry: 1000

        id: 4.mwugrs00
        event: tool.finished
        data: {"name":"search","ms":840}

        id: 5.mwugrs00
        event: message
        data: {"role":"assistant","text":"Found 3 papers"}

        id: 6.mwugrs00
        event: run.completed
        data: {}


        """

    @Test func replaysACopiedFileInAnotherDirectoryWithoutAJournalDirectory() throws {
        let elsewhere = try TemporaryDirectory(prefix: "ops-copy")
        let copy = elsewhere.file("evidence.jsonl")
        try FileManager.default.copyItem(atPath: OpsCLI.fixture + "/agent-research-41.jsonl", toPath: copy)
        // A path argument never touches --journal: point it at nothing to prove it.
        let result = try OpsCLI.run(["replay", copy, "--after", "3", "--journal", "/nonexistent"], workingDirectory: "/")
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == Self.research41AfterThree)

        // A bare file name ending in .jsonl is a path too (relative to the working directory).
        let relative = try OpsCLI.run(["replay", "evidence.jsonl", "--after", "3"], workingDirectory: elsewhere.path)
        #expect(relative.stdout == Self.research41AfterThree, "\(relative)")
    }

    @Test func replaysARunByIdFromTheJournalDirectory() throws {
        let result = try OpsCLI.run(["replay", "agent-research-41", "--after", "3", "--journal", OpsCLI.fixture])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == Self.research41AfterThree)
    }

    @Test func printsTheSameBytesAsTheServersEventStreamForTheSameResumePoint() async throws {
        let stack = try E2EStack.shared()
        let journal = stack.journalDirectory
        let run = "ops-replay-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        #expect(try OpsCLI.run(["create", "--journal", journal, "--id", run, "--metadata", #"{"who":"replay test","emoji":"\u00e9\u2603"}"#]).status == 0)
        for (type, data) in [
            ("run.started", "{}"), ("tool.started", #"{"name":"search","args":{"q":"a \"quoted\" b","n":[1,2.5e3,null,true]}}"#),
            ("message", #"{"text":"line1\nline2 \u2028 ünïcødé"}"#), ("run.completed", #"{"ok":true}"#),
        ] {
            let appended = try OpsCLI.run(["append", "--journal", journal, run, type, data])
            #expect(appended.status == 0, "\(appended)")
        }
        let copy = try TemporaryDirectory(prefix: "ops-copy")
        try FileManager.default.copyItem(atPath: "\(journal)/\(run).jsonl", toPath: copy.file("\(run).jsonl"))

        let incarnation = E2EJournalLine.incarnation(journal, run)
        // Plain seqs, whole event ids, and an id of another incarnation of the run (replayed from the start).
        let resumes: [(String, Int)] = [
            ("0", 200), ("2", 200), ("5", 204), ("2.\(incarnation)", 200), ("5.\(incarnation)", 204), ("5.zzzzzzzz", 200),
        ]
        for (resume, status) in resumes {
            let response = try await stack.client(.nginx).get("/v1/runs/\(run)/events", headers: [("Last-Event-ID", resume)])
            // 200 with the stream, or 204 (no body) when resuming at the terminal event: replay matches both.
            #expect(response.status == status, "resume \(resume)")
            let replay = try OpsCLI.runBytes(["replay", copy.file("\(run).jsonl"), "--after", resume])
            #expect(replay.status == 0)
            #expect(replay.stdout == response.body, "resume \(resume): replay \(String(decoding: replay.stdout, as: UTF8.self).debugDescription) server \(response.text.debugDescription)")
        }
    }

    @Test func otherFormatsAndTheRetryHint() throws {
        let jsonl = try OpsCLI.run(["replay", OpsCLI.fixture + "/agent-support-7.jsonl", "--format", "jsonl"])
        #expect(jsonl.stdout == OpsJournal.text(OpsCLI.fixture, "agent-support-7"))

        let text = try OpsCLI.run(["replay", OpsCLI.fixture + "/agent-support-7.jsonl", "--format", "text", "--after", "4"])
        #expect(text.stdout == "2026-11-25 10:16:30.000  #5  run.failed  {\"reason\":\"rate limited\"}\n")

        let retry = try OpsCLI.run(["replay", OpsCLI.fixture + "/ingest-batch-9.jsonl", "--retry-ms", "2500", "--after", "4"])
        #expect(retry.stdout == "retry: 2500\n\n")
    }

    @Test func resumingAtTheTerminalEventPrintsNothingAsTheServerAnswers204() throws {
        let ended = try OpsCLI.run(["replay", OpsCLI.fixture + "/agent-support-7.jsonl", "--after", "5"])
        #expect(ended.status == 0, "\(ended)")
        #expect(ended.stdout.isEmpty)
        // A run still going has more to come: the stream opens with its retry frame.
        let running = try OpsCLI.run(["replay", OpsCLI.fixture + "/ingest-batch-9.jsonl", "--after", "4"])
        #expect(running.stdout == "retry: 1000\n\n")
    }

    @Test func stopsAfterTheTerminalEventAndNeverPrintsATornLastLine() throws {
        let directory = try TemporaryDirectory(prefix: "ops-torn")
        let original = OpsJournal.text(OpsCLI.fixture, "ingest-batch-9")
        // A running run whose writer crashed mid-line: the torn tail is not an event.
        try (original + #"{"seq":5,"ts":"2026-11-25T17:5"#).write(toFile: directory.file("torn.jsonl"), atomically: true, encoding: .utf8)
        let torn = try OpsCLI.run(["replay", directory.file("torn.jsonl"), "--format", "jsonl"])
        #expect(torn.status == 0, "\(torn)")
        #expect(torn.stdout == original)
    }

    @Test func aBatchCompletedWhileTheReplayRunsIsPrintedWholeOrNotAtAll() throws {
        let directory = try TemporaryDirectory(prefix: "ops-batch")
        let path = directory.file("batch.jsonl")
        // When the replay starts, a writer is in the middle of a batch: seqs 3 and 4 are there, 5 (its last
        // line) is not. Seq 2 lies 3 s after seq 1, so a realtime replay waits between them.
        let head = """
            {"seq":1,"ts":"2026-11-25T16:30:00.000Z","type":"run.created","data":{"metadata":{}}}
            {"seq":2,"ts":"2026-11-25T16:30:03.000Z","type":"step","data":{}}
            {"seq":3,"ts":"2026-11-25T16:30:03.000Z","type":"step","more":true,"data":{"i":3}}
            {"seq":4,"ts":"2026-11-25T16:30:03.000Z","type":"step","more":true,"data":{"i":4}}

            """
        try head.write(toFile: path, atomically: true, encoding: .utf8)
        let replay = try OpsLiveCommand(["replay", path, "--format", "jsonl", "--pace", "x1"])
        // Seq 1 is printed before the wait for seq 2: the replay has taken its size and read the file once.
        #expect(replay.waitForOutput(containing: #""seq":1,"#))
        // The batch's last line lands while the replay waits (past the size it took at its start).
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"seq":5,"ts":"2026-11-25T16:30:03.000Z","type":"step","data":{"i":5}}"#.utf8 + [0x0A]))
        try handle.close()
        #expect(replay.waitForEndOfOutput())
        #expect(replay.waitForExit() == 0, "\(replay.stderr)")
        let printed = replay.output.split(separator: "\n").filter { $0.contains(#""seq":"#) }
        let batch = printed.filter { $0.contains(#""seq":3,"#) || $0.contains(#""seq":4,"#) || $0.contains(#""seq":5,"#) }
        #expect(batch.isEmpty || batch.count == 3, "part of a batch was printed: \(printed)")
    }

    @Test func pacedReplayPrintsTheSameEvents() throws {
        // Realtime pacing itself is pinned in virtual time (ReplayPacerTests); here: the paced path prints
        // the same bytes. The fixture run spans 90 s, so x100000 waits about a millisecond in all.
        let paced = try OpsCLI.run(["replay", OpsCLI.fixture + "/agent-support-7.jsonl", "--pace", "x100000"])
        let unpaced = try OpsCLI.run(["replay", OpsCLI.fixture + "/agent-support-7.jsonl", "--pace", "max"])
        #expect(paced.status == 0, "\(paced)")
        #expect(paced.stdout == unpaced.stdout)
        #expect(paced.stdout.hasPrefix("retry: 1000\n\nid: 1.mwvyw2w0\nevent: run.created\n"))
    }

    @Test func aMissingFileOrRunExitsOne() throws {
        let file = try OpsCLI.run(["replay", "/nonexistent/run.jsonl"])
        #expect(file.status == 1, "\(file)")
        #expect(file.stderr == "runjournal: /nonexistent/run.jsonl: No such file or directory\n")

        let run = try OpsCLI.run(["replay", "no-such-run", "--journal", OpsCLI.fixture])
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr == "runjournal: run no-such-run not found\n")
    }

    @Test(arguments: [
        ["replay"],
        ["replay", "agent-support-7", "--pace", "fast"],
        ["replay", "agent-support-7", "--pace", "x0"],
        ["replay", "agent-support-7", "--format", "html"],
        ["replay", "agent-support-7", "--after", "-3"],
        ["replay", "bad id!"],
    ])
    func usageErrorsExitTwo(arguments: [String]) throws {
        let result = try OpsCLI.run(arguments + ["--journal", OpsCLI.fixture])
        #expect(result.status == 2, "\(result)")
        #expect(result.stdout.isEmpty)
    }
}
