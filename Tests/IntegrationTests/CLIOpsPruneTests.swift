import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `runjournal prune`: retention by the age of the last event, terminal runs only unless asked.
@Suite struct CLIOpsPruneTests {
    static let allRuns: Set<String> = [
        "agent-research-40", "agent-research-41", "agent-research-42", "agent-research-43", "agent-support-7",
        "export-job-3", "ingest-batch-9", "nightly-build-1125",
    ]

    func prune(_ arguments: [String], in journal: TemporaryDirectory) throws -> OpsCLI.Result {
        try OpsCLI.run(["prune", "--journal", journal.path] + arguments, environment: ["RUNJOURNAL_NOW": OpsCLI.fixtureNow])
    }

    func remaining(_ journal: TemporaryDirectory) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: journal.path).filter { $0.hasSuffix(".jsonl") }.map { String($0.dropLast(6)) })
    }

    @Test func dryRunPrintsWhatWouldGoAndDeletesNothing() throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try prune(["--older-than", "1d", "--dry-run"], in: journal)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == """
            would remove  agent-research-40  failed      last event 2d ago  482 B
            would remove  export-job-3       stopped    last event 34h ago  448 B
            would remove  agent-research-41  completed  last event 32h ago  569 B
            would remove 3 runs, 1.5 KiB

            """)
        #expect(try remaining(journal) == Self.allRuns)
    }

    @Test func deletesOnlyTerminalRunsOlderThanTheLimit() throws {
        let journal = try OpsCLI.fixtureCopy()
        // 8h: the three old ones, plus the two failures and the nightly build of today (but not the running
        // ingest, silent for 10 minutes, nor the queued run).
        let result = try prune(["--older-than", "8h"], in: journal)
        #expect(result.status == 0, "\(result)")
        let removed: Set<String> = ["agent-research-40", "export-job-3", "agent-research-41", "nightly-build-1125", "agent-research-42"]
        #expect(try remaining(journal) == Self.allRuns.subtracting(removed))
        #expect(result.stdout.split(separator: "\n").filter { $0.hasPrefix("removed  ") }.count == 5)
        #expect(result.stdout.hasSuffix("removed 5 runs, 2.4 KiB\n"), "\(result.stdout)")
        // The index forgot them too: ls shows exactly what is left.
        let ls = try OpsCLI.run(["ls", "--journal", journal.path, "--json"])
        #expect(!ls.stdout.contains("agent-research-40"))
        let index = (try? String(contentsOfFile: journal.file(".runs.index"), encoding: .utf8)) ?? ""
        #expect(!index.contains("agent-research-40"))
    }

    @Test func neverTouchesALiveRunUnlessStatusAll() throws {
        let journal = try OpsCLI.fixtureCopy()
        // Everything is older than 1 minute; terminal-only pruning keeps the queued and running runs.
        _ = try prune(["--older-than", "1m"], in: journal)
        #expect(try remaining(journal) == ["agent-research-43", "ingest-batch-9"])
        // --status all takes silent live runs too, by the same age rule: ingest-batch-9 has been silent 10m.
        let all = try prune(["--older-than", "7m", "--status", "all"], in: journal)
        #expect(all.status == 0, "\(all)")
        #expect(try remaining(journal) == ["agent-research-43"])
    }

    @Test func nothingOldEnoughRemovesNothing() throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try prune(["--older-than", "30d"], in: journal)
        #expect(result.status == 0)
        #expect(result.stdout == "removed 0 runs, 0 B\n")
        #expect(try remaining(journal) == Self.allRuns)
    }

    @Test func aFollowerOfAPrunedRunSeesItGoneAndExitsOne() throws {
        let journal = try OpsCLI.fixtureCopy()
        let tail = try OpsLiveCommand(["tail", "-f", "--journal", journal.path, "ingest-batch-9"])
        #expect(tail.waitForOutput(containing: #"{"files":240}"#))
        let result = try prune(["--older-than", "5m", "--status", "all"], in: journal)
        #expect(result.stdout.contains("removed  ingest-batch-9"), "\(result)")
        #expect(tail.waitForExit() == 1)
        #expect(tail.stderr.contains("journal deleted"))
    }

    @Test func pruneWaitsForAnAppenderHoldingTheLockAndKeepsTheRunItAppendedTo() throws {
        let journal = try OpsCLI.fixtureCopy()
        let path = journal.file("ingest-batch-9.jsonl")
        // The test is an appender inside its critical section: it holds the journal's flock.
        let appender = open(path, O_WRONLY | O_APPEND)
        #expect(appender >= 0)
        defer { close(appender) }
        #expect(flock(appender, LOCK_EX) == 0)

        let prune = try OpsLiveCommand(
            ["prune", "--journal", journal.path, "--older-than", "5m", "--status", "all"],
            environment: ["RUNJOURNAL_NOW": OpsCLI.fixtureNow])
        #expect(waitUntil(timeout: .seconds(60)) { someoneWaitsForFlock(on: path) || access(path, F_OK) != 0 })
        #expect(access(path, F_OK) == 0, "prune unlinked the journal while an appender held its lock")

        // The appender's event, acknowledged once it releases the lock: it must stay in an existing journal.
        let line = #"{"seq":5,"ts":"2026-11-25T17:59:59.000Z","type":"ingest.progress","data":{"files":241}}"# + "\n"
        #expect(line.utf8.count == line.withCString { write(appender, $0, strlen($0)) })
        #expect(flock(appender, LOCK_UN) == 0)
        #expect(prune.waitForExit() == 0)
        #expect(access(path, F_OK) == 0)
        #expect(OpsJournal.types(journal.path, "ingest-batch-9").count == 5)
        #expect(prune.stderr.contains("ingest-batch-9: skipped, it has new events since the scan"), "\(prune.stderr)")
    }

    @Test(arguments: [
        ["--dry-run"],
        ["--older-than", "soon"],
        ["--older-than", "7"],
        ["--older-than", "7d", "--status", "failed"],
    ])
    func usageErrorsExitTwo(arguments: [String]) throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try prune(arguments, in: journal)
        #expect(result.status == 2, "\(result)")
        #expect(try remaining(journal) == Self.allRuns)
    }
}
