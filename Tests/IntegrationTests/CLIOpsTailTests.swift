import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `runjournal tail`: printing, following across appends from other processes, the end of a run, a deleted
/// journal, interrupts, and `--all` noticing new runs.
@Suite struct CLIOpsTailTests {
    @Test func printsARunAsAlignedTextWithTheSeqColumnPadded() throws {
        let result = try OpsCLI.run(["tail", "--journal", OpsCLI.fixture, "agent-support-7"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == """
            2026-11-25 10:15:00.000  #1  run.created  {"metadata":{"agent":"support"}}
            2026-11-25 10:15:00.200  #2  run.started  {}
            2026-11-25 10:15:01.000  #3  tool.started  {"name":"lookup_order"}
            2026-11-25 10:15:01.450  #4  tool.finished  {"name":"lookup_order","ms":450}
            2026-11-25 10:16:30.000  #5  run.failed  {"reason":"rate limited"}

            """)
    }

    @Test func padsTheSeqColumnToTheWidthOfTheLastSeq() throws {
        let journal = try OpsCLI.emptyJournal()
        _ = try OpsCLI.run(["create", "--journal", journal.path, "--id", "wide", "--fsync", "never"])
        let batch = (1...10).map { #"{"type":"step","data":{"n":\#($0)}}"# }.joined(separator: "\n")
        try batch.write(toFile: journal.file("batch.ndjson"), atomically: true, encoding: .utf8)
        let append = try OpsCLI.runExecutable("/bin/sh", ["-c", "\"$0\" append --journal \"$1\" --fsync never wide - < \"$1/batch.ndjson\"", try TestPaths.runjournalBinary(), journal.path])
        #expect(append.status == 0, "\(append)")
        let lines = try OpsCLI.run(["tail", "--journal", journal.path, "wide"]).stdout.split(separator: "\n")
        #expect(lines.count == 11)
        #expect(lines[8].dropFirst(23).hasPrefix("  #9   step  {\"n\":8}"), "\(lines[8])")
        #expect(lines[10].dropFirst(23).hasPrefix("  #11  step  {\"n\":10}"), "\(lines[10])")
    }

    @Test func jsonlFormatPrintsTheJournalLinesAsStored() throws {
        let whole = try OpsCLI.run(["tail", "--journal", OpsCLI.fixture, "--format", "jsonl", "agent-research-41"])
        #expect(whole.status == 0)
        #expect(whole.stdout == OpsJournal.text(OpsCLI.fixture, "agent-research-41"))

        let after = try OpsCLI.run(["tail", "--journal", OpsCLI.fixture, "--format", "jsonl", "--after", "4", "agent-research-41"])
        let expected = OpsJournal.text(OpsCLI.fixture, "agent-research-41").split(separator: "\n").dropFirst(4).map { $0 + "\n" }.joined()
        #expect(after.stdout == expected)
    }

    @Test func followPrintsEventsAppendedByAnotherProcessAndExitsZeroAfterTheTerminalEvent() throws {
        let journal = try OpsCLI.emptyJournal()
        #expect(try OpsCLI.run(["create", "--journal", journal.path, "--id", "live-1"]).status == 0)
        let tail = try OpsLiveCommand(["tail", "-f", "--journal", journal.path, "--format", "jsonl", "live-1"])
        #expect(tail.waitForOutput(containing: #""type":"run.created""#), "\(tail.stderr)")

        let started = try OpsCLI.run(["append", "--journal", journal.path, "live-1", "tool.started", #"{"name":"search"}"#])
        #expect(started.status == 0, "\(started)")
        #expect(tail.waitForOutput(containing: #""type":"tool.started","data":{"name":"search"}"#), "\(tail.output)")
        // Still following: the run has not ended.
        #expect(tail.waitForExit(timeout: .milliseconds(200)) == nil)

        #expect(try OpsCLI.run(["append", "--journal", journal.path, "live-1", "run.completed"]).status == 0)
        #expect(tail.waitForExit() == 0, "\(tail.stderr)")
        #expect(tail.waitForEndOfOutput())
        #expect(tail.output == OpsJournal.text(journal.path, "live-1"))
    }

    @Test func followExitsOneWhenTheJournalIsDeleted() throws {
        let journal = try OpsCLI.emptyJournal()
        #expect(try OpsCLI.run(["create", "--journal", journal.path, "--id", "doomed"]).status == 0)
        let tail = try OpsLiveCommand(["tail", "-f", "--journal", journal.path, "doomed"])
        #expect(tail.waitForOutput(containing: "run.created"))
        // Deleted the way prune deletes: unlink.
        #expect(unlink(journal.file("doomed.jsonl")) == 0)
        #expect(tail.waitForExit() == 1)
        #expect(tail.stderr.contains("doomed: journal deleted"), "\(tail.stderr)")
    }

    @Test func followOfARunThatAlreadyEndedPrintsItAndExitsZero() throws {
        let result = try OpsCLI.run(["tail", "-f", "--journal", OpsCLI.fixture, "--format", "jsonl", "nightly-build-1125"], timeout: .seconds(30))
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == OpsJournal.text(OpsCLI.fixture, "nightly-build-1125"))
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func followExitsZeroOnAnInterrupt(signal: Int32) throws {
        let journal = try OpsCLI.emptyJournal()
        #expect(try OpsCLI.run(["create", "--journal", journal.path, "--id", "waiting"]).status == 0)
        let tail = try OpsLiveCommand(["tail", "-f", "--journal", journal.path, "waiting"])
        #expect(tail.waitForOutput(containing: "run.created"))
        tail.signal(signal)
        #expect(tail.waitForExit() == 0, "\(tail.stderr)")
    }

    @Test func followAllPicksUpARunCreatedAfterItStartedPrefixedWithItsId() throws {
        let journal = try OpsCLI.emptyJournal()
        #expect(try OpsCLI.run(["create", "--journal", journal.path, "--id", "old-run"]).status == 0)
        #expect(try OpsCLI.run(["append", "--journal", journal.path, "old-run", "run.started"]).status == 0)
        #expect(try OpsCLI.run(["create", "--journal", journal.path, "--id", "ended-run"]).status == 0)
        #expect(try OpsCLI.run(["append", "--journal", journal.path, "ended-run", "run.completed"]).status == 0)

        let tail = try OpsLiveCommand(["tail", "-f", "--all", "--journal", journal.path])
        // An event of an existing run printed proves it is following (its directory watch starts before the
        // listing). An append made before it listed the directory is history, never printed: append again
        // until one shows.
        var step = 0
        repeat {
            step += 1
            #expect(try OpsCLI.run(["append", "--journal", journal.path, "old-run", "step", #"{"n":\#(step)}"#]).status == 0)
        } while !tail.waitForOutput(containing: #"{"n":\#(step)}"#, timeout: .seconds(2)) && step < 20
        try #require(tail.output.contains(#"{"n":\#(step)}"#), "\(tail.stderr)")

        #expect(try OpsCLI.run(["create", "--journal", journal.path, "--id", "new-run", "--metadata", #"{"k":"v"}"#]).status == 0)
        #expect(try OpsCLI.run(["append", "--journal", journal.path, "new-run", "tool.started", #"{"name":"fresh"}"#]).status == 0)
        #expect(tail.waitForOutput(containing: #"{"name":"fresh"}"#), "\(tail.output)")
        tail.signal(SIGINT)
        #expect(tail.waitForExit() == 0, "\(tail.stderr)")
        #expect(tail.waitForEndOfOutput())

        let lines = tail.output.split(separator: "\n").map(String.init)
        // Existing runs print from their end: no old-run history, nothing of the run that had ended.
        let oldLines = lines.filter { $0.hasPrefix("old-run  ") }
        let newLines = lines.filter { $0.hasPrefix("new-run  ") }
        #expect(lines.count == oldLines.count + newLines.count, "\(lines)")
        #expect(oldLines.allSatisfy { $0.contains("  step  {\"n\":") }, "\(lines)")
        #expect(oldLines.last?.hasSuffix(#"  step  {"n":\#(step)}"#) == true)
        // A new run prints from run.created, every line prefixed with its id.
        #expect(newLines.count == 2, "\(lines)")
        #expect(newLines.first?.contains(#"run.created  {"metadata":{"k":"v"}}"#) == true, "\(lines)")
        #expect(!tail.output.contains("ended-run"))
    }

    @Test func followAllWithJsonlPrefixesTheRawLineWithTheRunId() throws {
        let journal = try OpsCLI.emptyJournal()
        let tail = try OpsLiveCommand(["tail", "-f", "--all", "--format", "jsonl", "--journal", journal.path])
        // Nothing exists yet, so the first run to show up proves the watch is live; retry until one does
        // (the command may not have started watching when the first create happens).
        var created = 0
        repeat {
            created += 1
            #expect(try OpsCLI.run(["create", "--journal", journal.path, "--id", "j\(created)"]).status == 0)
        } while !tail.waitForOutput(containing: "j\(created) {", timeout: .seconds(2)) && created < 20
        tail.signal(SIGTERM)
        #expect(tail.waitForExit() == 0)
        let line = tail.output.split(separator: "\n").first { $0.hasPrefix("j\(created) ") }
        #expect(line.map { String($0.dropFirst("j\(created) ".count)) } == OpsJournal.text(journal.path, "j\(created)").split(separator: "\n").first.map(String.init))
    }

    @Test(arguments: [
        ["tail"],
        ["tail", "--all"],
        ["tail", "-f", "--all", "some-run"],
        ["tail", "-f", "--all", "--format", "sse"],
        ["tail", "--format", "xml", "agent-support-7"],
        ["tail", "--after", "-1", "agent-support-7"],
        ["tail", "../escape"],
        ["tail", "--bogus", "agent-support-7"],
    ])
    func usageErrorsExitTwo(arguments: [String]) throws {
        let result = try OpsCLI.run(arguments + ["--journal", OpsCLI.fixture])
        #expect(result.status == 2, "\(result)")
        #expect(!result.stderr.isEmpty)
        #expect(result.stdout.isEmpty)
    }

    @Test func anUnknownRunExitsOneWithOneLineOnStderr() throws {
        for arguments in [["tail", "no-such-run"], ["tail", "-f", "no-such-run"]] {
            let result = try OpsCLI.run(arguments + ["--journal", OpsCLI.fixture])
            #expect(result.status == 1, "\(result)")
            #expect(result.stderr == "runjournal: run no-such-run not found\n")
        }
    }

    @Test func aMissingJournalDirectoryExitsOne() throws {
        let result = try OpsCLI.run(["tail", "--journal", "/nonexistent/journal", "x"])
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.hasPrefix("runjournal: journal directory /nonexistent/journal"))
    }
}
