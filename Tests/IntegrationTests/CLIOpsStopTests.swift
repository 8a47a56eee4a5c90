import Foundation
import Testing

/// `runjournal stop` and `stop --force`.
@Suite struct CLIOpsStopTests {
    func summary(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    @Test func requestsAStopAndPrintsTheSummary() throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try OpsCLI.run(["stop", "--journal", journal.path, "ingest-batch-9"])
        #expect(result.status == 0, "\(result)")
        let run = try summary(result.stdout)
        #expect(run["id"] as? String == "ingest-batch-9")
        #expect(run["stop_requested"] as? Bool == true)
        #expect(run["status"] as? String == "running")
        #expect(OpsJournal.types(journal.path, "ingest-batch-9").last == "run.stop_requested")

        // Asking again changes nothing: one request per run.
        let again = try OpsCLI.run(["stop", "--journal", journal.path, "ingest-batch-9"])
        #expect(again.status == 0)
        #expect(OpsJournal.types(journal.path, "ingest-batch-9").filter { $0 == "run.stop_requested" }.count == 1)
    }

    @Test func forceAppendsRunStoppedWithReasonForced() throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try OpsCLI.run(["stop", "--force", "--journal", journal.path, "agent-research-43"])
        #expect(result.status == 0, "\(result)")
        #expect(try summary(result.stdout)["status"] as? String == "stopped")
        let last = OpsJournal.text(journal.path, "agent-research-43").split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix(#"{"seq":2,"ts":""#))
        #expect(last.hasSuffix(#"","type":"run.stopped","data":{"reason":"forced"}}"#), "\(last)")
        // The listing agrees.
        let ls = try OpsCLI.run(["ls", "--journal", journal.path, "--status", "stopped"])
        #expect(ls.stdout.contains("agent-research-43") && ls.stdout.contains("forced"))
    }

    @Test(arguments: [["stop"], ["stop", "--force"]])
    func aRunThatAlreadyEndedExitsOneWithItsStatus(arguments: [String]) throws {
        let journal = try OpsCLI.fixtureCopy()
        let before = OpsJournal.text(journal.path, "nightly-build-1125")
        let result = try OpsCLI.run(arguments + ["--journal", journal.path, "nightly-build-1125"])
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr == "runjournal: run nightly-build-1125 has already ended: completed\n")
        #expect(result.stdout.isEmpty)
        #expect(OpsJournal.text(journal.path, "nightly-build-1125") == before)
    }

    @Test func unknownRunsExitOneAndBadIdsExitTwo() throws {
        let unknown = try OpsCLI.run(["stop", "--journal", OpsCLI.fixture, "ghost"])
        #expect(unknown.status == 1, "\(unknown)")
        #expect(unknown.stderr == "runjournal: run ghost not found\n")
        let unknownForced = try OpsCLI.run(["stop", "--force", "--journal", OpsCLI.fixture, "ghost"])
        #expect(unknownForced.status == 1, "\(unknownForced)")
        #expect(try OpsCLI.run(["stop", "--journal", OpsCLI.fixture, "a/b"]).status == 2)
        #expect(try OpsCLI.run(["stop", "--journal", OpsCLI.fixture]).status == 2)
    }
}
