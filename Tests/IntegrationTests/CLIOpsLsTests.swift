import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `runjournal ls` and `runjournal stats` over the fixture journal directory, with the clock pinned.
@Suite struct CLIOpsLsTests {
    func ls(_ arguments: [String], in directory: TemporaryDirectory) throws -> OpsCLI.Result {
        try OpsCLI.run(["ls", "--journal", directory.path] + arguments, environment: ["RUNJOURNAL_NOW": OpsCLI.fixtureNow])
    }

    @Test func listsRunsNewestFirstInAlignedColumns() throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try ls([], in: journal)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == """
            ID                  STATUS     EVENTS  CREATED              LAST EVENT  REASON
            agent-research-43   queued          1  2026-11-25 17:55:00      5m ago
            ingest-batch-9      running         4  2026-11-25 16:30:00     10m ago
            agent-support-7     failed          5  2026-11-25 10:15:00      7h ago  rate limited
            agent-research-42   failed          5  2026-11-25 08:00:00      9h ago  tool timeout
            nightly-build-1125  completed       5  2026-11-25 02:00:00     15h ago
            agent-research-41   completed       6  2026-11-24 09:00:00     32h ago
            export-job-3        stopped         5  2026-11-24 07:00:00     34h ago  forced
            agent-research-40   failed          5  2026-11-23 09:12:00      2d ago  out of memory

            """)
        #expect(result.stderr.isEmpty)
    }

    @Test func persistsTheRunIndexSoTheNextListingStartsWarm() throws {
        let journal = try OpsCLI.fixtureCopy()
        #expect(!FileManager.default.fileExists(atPath: journal.file(".runs.index")))
        let cold = try ls(["--json"], in: journal)
        #expect(FileManager.default.fileExists(atPath: journal.file(".runs.index")))
        let warm = try ls(["--json"], in: journal)
        #expect(warm.stdout == cold.stdout)
    }

    @Test func jsonIsShapedLikeTheListRunsAnswer() throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try ls(["--json", "--limit", "2"], in: journal)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == """
            {"runs":[{"id":"agent-research-43","status":"queued","stop_requested":false,"created_at":"2026-11-25T17:55:00.000Z",\
            "updated_at":"2026-11-25T17:55:00.000Z","last_seq":1,"metadata":{"agent":"research","model":"m-large"}},\
            {"id":"ingest-batch-9","status":"running","stop_requested":false,"created_at":"2026-11-25T16:30:00.000Z",\
            "updated_at":"2026-11-25T17:50:00.000Z","last_seq":4,"metadata":{"job":"ingest","batch":9}}]}

            """)
        let all = try ls(["--json"], in: journal)
        let object = try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [String: Any]
        let runs = object?["runs"] as? [[String: Any]] ?? []
        #expect(runs.count == 8)
        #expect(Set(object?.keys.map { $0 } ?? []) == ["runs"])
    }

    @Test func filtersByStatus() throws {
        let journal = try OpsCLI.fixtureCopy()
        func ids(_ status: String) throws -> [String] {
            try ls(["--status", status], in: journal).stdout.split(separator: "\n").dropFirst().map { String($0.prefix { $0 != " " }) }
        }
        #expect(try ids("failed") == ["agent-support-7", "agent-research-42", "agent-research-40"])
        #expect(try ids("running,queued") == ["agent-research-43", "ingest-batch-9"])
        #expect(try ids("active") == ["agent-research-43", "ingest-batch-9"])
        #expect(try ids("terminal").count == 6)
        #expect(try ids("stopped") == ["export-job-3"])
    }

    @Test(arguments: [
        ("today", ["agent-research-43", "ingest-batch-9", "agent-support-7", "agent-research-42", "nightly-build-1125"]),
        ("2026-11-25", ["agent-research-43", "ingest-batch-9", "agent-support-7", "agent-research-42", "nightly-build-1125"]),
        ("yesterday", ["agent-research-43", "ingest-batch-9", "agent-support-7", "agent-research-42", "nightly-build-1125", "agent-research-41", "export-job-3"]),
        ("90m", ["agent-research-43", "ingest-batch-9"]),
        ("2h", ["agent-research-43", "ingest-batch-9"]),
        ("30m", ["agent-research-43"]),
        ("300s", ["agent-research-43"]),
        ("7d", ["agent-research-43", "ingest-batch-9", "agent-support-7", "agent-research-42", "nightly-build-1125", "agent-research-41", "export-job-3", "agent-research-40"]),
        ("2026-11-25T09:00:00Z", ["agent-research-43", "ingest-batch-9", "agent-support-7"]),
        ("2026-11-25T10:00:00+03:00", ["agent-research-43", "ingest-batch-9", "agent-support-7", "agent-research-42"]),
    ])
    func sinceKeepsRunsCreatedAtOrAfter(since: String, expected: [String]) throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try ls(["--since", since, "--json"], in: journal)
        #expect(result.status == 0, "\(result)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let ids = (object?["runs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(ids == expected)
    }

    @Test func statusAndSinceCombineWithLimit() throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try ls(["--status", "failed", "--since", "today", "--limit", "1"], in: journal)
        #expect(result.stdout.split(separator: "\n").count == 2)
        #expect(result.stdout.contains("agent-support-7"))
    }

    @Test func seesRunsCreatedAndChangedSinceTheIndexWasWritten() throws {
        let journal = try OpsCLI.fixtureCopy()
        _ = try ls([], in: journal)
        #expect(try OpsCLI.run(["append", "--journal", journal.path, "ingest-batch-9", "run.failed", #"{"reason":"disk full"}"#]).status == 0)
        #expect(try OpsCLI.run(["create", "--journal", journal.path, "--id", "zz-new"]).status == 0)
        let result = try OpsCLI.run(["ls", "--journal", journal.path, "--status", "failed,queued", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let ids = (object?["runs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(Set(ids) == ["zz-new", "agent-research-43", "agent-support-7", "agent-research-42", "agent-research-40", "ingest-batch-9"])
    }

    @Test(arguments: [
        ["--status", "done"],
        ["--since", "yesterdayish"],
        ["--since", "2026-13-01"],
        ["--since", "5x"],
        ["--limit", "0"],
        ["--limit", "many"],
        ["extra-argument"],
    ])
    func usageErrorsExitTwo(arguments: [String]) throws {
        let result = try OpsCLI.run(["ls", "--journal", OpsCLI.fixture] + arguments)
        #expect(result.status == 2, "\(result)")
        #expect(result.stdout.isEmpty)
    }

    @Test func aMissingJournalDirectoryExitsOne() throws {
        let result = try OpsCLI.run(["ls", "--journal", "/nonexistent"])
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func showsProgressOnATerminalDuringALongScanAndNeverInAPipe() throws {
        let journal = try OpsCLI.emptyJournal()
        for index in 0..<300 {
            let line = #"{"seq":1,"ts":"2026-11-25T10:00:00.000Z","type":"run.created","data":{"metadata":{}}}"# + "\n"
            try line.write(toFile: journal.file(String(format: "bulk-%03d.jsonl", index)), atomically: false, encoding: .utf8)
        }
        let piped = try OpsCLI.run(["ls", "--journal", journal.path])
        #expect(piped.status == 0)
        #expect(piped.stderr.isEmpty)

        // Under a pseudo-terminal (stdout and stderr both on it) the progress line is drawn, then erased; the
        // index the first command writes does not hide it from the next, which still visits every journal.
        let scanned = try TemporaryDirectory(prefix: "ops-scan")
        for name in try FileManager.default.contentsOfDirectory(atPath: journal.path) where name.hasSuffix(".jsonl") {
            try FileManager.default.copyItem(atPath: journal.file(name), toPath: scanned.file(name))
        }
        for command in [["ls"], ["stats"], ["prune", "--older-than", "1d", "--dry-run"]] {
            let line = ([try TestPaths.runjournalBinary()] + command + ["--journal", scanned.path]).joined(separator: " ")
            let terminal = try OpsCLI.runExecutable("/usr/bin/script", ["-qec", line, "/dev/null"])
            #expect(terminal.status == 0, "\(terminal)")
            #expect(terminal.stdout.contains("/300"), "\(command): \(terminal.stdout.prefix(200).debugDescription)")
            #expect(terminal.stdout.contains("\r\u{1B}[K"), "\(command)")
        }
    }

    @Test func statsSummarizesTheDirectory() throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try OpsCLI.run(["stats", "--journal", journal.path])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == """
            runs                           8
              queued                       1
              running                      1
              completed                    2
              failed                       3
              stopped                      1
            events                        36
            bytes                       3376  (3.3 KiB)
            oldest       2026-11-23 09:12:00  agent-research-40
            newest       2026-11-25 17:55:00  agent-research-43

            largest journals
              agent-research-41  569 B  6 events  completed
              agent-research-42  485 B  5 events  failed
              agent-research-40  482 B  5 events  failed
              agent-support-7    471 B  5 events  failed
              export-job-3       448 B  5 events  stopped

            """)
    }

    @Test func statsOfAnEmptyDirectory() throws {
        let journal = try OpsCLI.emptyJournal()
        let result = try OpsCLI.run(["stats", "--journal", journal.path])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.split(separator: "\n").first?.split(separator: " ") == ["runs", "0"], "\(result.stdout)")
        #expect(!result.stdout.contains("largest"))
    }
}
