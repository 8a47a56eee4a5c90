import Foundation
import Testing

// A disk whose writes fail, for real: an ext4 image on a loop device whose backing file lives on a private
// tmpfs with only a few hundred KiB left (LoopFilesystem `.tmpfs`). ext4 takes the appends into its page
// cache, but their writeback to the loop device fails once the tmpfs is full, so `fdatasync` fails — the
// case where Linux reports a writeback error once and may already have dropped the dirty pages. The
// writers run with `--fsync always` (acknowledge only after fdatasync) and keep writing past the first
// failure. Then everything is stopped, the filesystem unmounted, the tmpfs given its space back and the
// filesystem mounted again: what a reboot after replacing the disk finds. Every acknowledged event must
// be on it, the run must still be failed for a new responder, and `runjournal verify --repair` must make
// it appendable again. Needs root, loop devices and e2fsprogs; skipped with the reason printed otherwise.

@Suite("Disk faults: failing writeback", .serialized,
       .enabled(if: DiskFaultEnvironment.isAvailable, Comment(rawValue: DiskFaultEnvironment.unavailableReason ?? "")))
struct FailingWritebackTests {
    /// Appends to a failed journal answer 507 (ENOSPC, which the loop device reports for a full backing
    /// file) or 503 (EIO and the rest), always with code journal_failed.
    static func isJournalFailed(status: Int?, code: String?) -> Bool {
        (status == 503 || status == 507) && code == "journal_failed"
    }

    @Test("a failed fdatasync loses no acknowledged event; the run stays failed across a restart until verify --repair")
    func failedWritebackOverHTTP() async throws {
        let disk = try LoopFilesystem(imageMiB: 16, backing: .tmpfs(headroomKiB: 320))
        defer { disk.destroy() }
        let journal = disk.mountPoint + "/journal"
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: false)
        var stack: E2EStack? = try E2EStack(["--idle-timeout", "off", "--fsync", "always"], kinds: [.nginx], journalDirectory: journal)
        defer { stack?.stop() }
        let api = stack!.client(.nginx)
        let run = try await api.createRun(id: "writeback")

        let outcomes = try await FaultAppenders.run(
            api, run: run, writers: [.single, .single, .single, .batch(4)], padding: 900,
            extraAfterFailure: 15, maxRequests: 3_000)
        let tally = FaultAppenders.tally(outcomes)
        let acknowledged = outcomes.compactMap(\.acknowledged)
        print("failing writeback: \(tally)")
        try #require(!acknowledged.isEmpty, "no append succeeded before writeback failed: \(tally)")
        try #require(outcomes.contains { $0.status != 201 }, "writeback never failed: \(tally)")
        let later = outcomes.filter(\.sentAfterFailure)
        let otherAnswers = later.filter { !Self.isJournalFailed(status: $0.status, code: $0.errorCode) }
        #expect(otherAnswers.count == 0,
                "\(otherAnswers.count) of \(later.count) appends sent after the journal failed did not answer 503/507 journal_failed, e.g. \(otherAnswers.first.map { "\($0.status.map(String.init) ?? "none") \($0.text)" } ?? ""); all: \(tally)")

        stack?.stop()
        stack = nil
        try disk.unmount()
        disk.releaseBackingSpace()
        try disk.mount()
        let audit = try JournalAudit(path: "\(journal)/\(run).jsonl")
        let findings = audit.check(acknowledged)
        print("failing writeback, after remount: \(findings); \(audit.lines.count) committed lines on disk (\(audit.uncommittedLines) uncommitted), torn tail \(audit.tornTailBytes) bytes")
        #expect(findings.lostEvents == 0, "acknowledged events lost: \(findings)")
        #expect(findings.partialBatches.isEmpty, "partial batches on disk: \(findings)")
        #expect(findings.seqGap == nil && findings.unreadableLines == 0, "\(findings)")

        // A new responder on the remounted disk still knows the run is failed.
        stack = try E2EStack(["--idle-timeout", "off", "--fsync", "always"], kinds: [.nginx], journalDirectory: journal)
        let restarted = stack!.client(.nginx)
        let refused = try await restarted.post("/v1/runs/\(run)/events", json: #"{"type":"fault.after","data":{}}"#)
        #expect(Self.isJournalFailed(status: refused.status, code: refused.errorCode),
                "after a restart, an append to the failed run answered \(refused.status.map(String.init) ?? "none") \(refused.text)")
        stack?.stop()

        // verify --repair (with space available again) makes the run appendable.
        let repair = try await e2eRunCLI(["verify", "--journal", journal, "--repair", run])
        #expect(repair.code == 0, "verify --repair: \(repair.code.map(String.init) ?? "none") \(repair.stdout)\(repair.stderr)")
        let lastOnDisk = try JournalAudit(path: "\(journal)/\(run).jsonl").lines.last?.seq ?? 0
        stack = try E2EStack(["--idle-timeout", "off", "--fsync", "always"], kinds: [.nginx], journalDirectory: journal)
        let repaired = stack!.client(.nginx)
        let appended = try await repaired.post("/v1/runs/\(run)/events", json: #"{"type":"fault.after","data":{}}"#)
        #expect(appended.status == 201, "after verify --repair: \(appended.status.map(String.init) ?? "none") \(appended.text)")
        if appended.status == 201 {
            #expect((appended.json as? [String: Any])?["first_seq"] as? Int == Int(lastOnDisk) + 1, "\(appended.text); last seq on disk \(lastOnDisk)")
        }
    }

    @Test("runjournal append exits non-zero with one line on stderr when its batch is not durable, and loses no acknowledged batch")
    func failedWritebackThroughTheCLI() async throws {
        let disk = try LoopFilesystem(imageMiB: 16, backing: .tmpfs(headroomKiB: 320))
        defer { disk.destroy() }
        let journal = disk.mountPoint + "/journal"
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: false)
        let created = try await e2eRunCLI(["create", "--journal", journal, "--id", "cli-writeback"])
        try #require(created.code == 0, "create: \(created.stderr)")
        let run = "cli-writeback"
        let inputs = try TemporaryDirectory(prefix: "cli-batches")

        var acknowledged: [JournalAudit.Acknowledged] = []
        var failures: [(batch: Int, code: Int32?, stderr: String)] = []
        var extraAfterFailure = 4
        for batch in 0..<2_000 {
            if !failures.isEmpty {
                if extraAfterFailure == 0 { break }
                extraAfterFailure -= 1
            }
            let count = 4
            let input = inputs.file("batch-\(batch).ndjson")
            try FaultEvents.ndjson(batch: batch, count: count, padding: 900).write(toFile: input, atomically: false, encoding: .utf8)
            let append = try await runCLI(["append", "--journal", journal, "--fsync", "always", run, "-"], stdin: input)
            unlink(input)
            if append.code == 0 {
                let bounds = append.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "-").compactMap { Int64($0) }
                try #require(bounds.count == 2, "append printed \(append.stdout)")
                #expect(failures.isEmpty, "batch \(batch) was acknowledged (\(append.stdout)) after an earlier append failed")
                acknowledged.append(JournalAudit.Acknowledged(batch: batch, count: count, seqs: bounds[0]...bounds[1]))
            } else {
                failures.append((batch, append.code, append.stderr))
            }
        }
        print("CLI, failing writeback: \(acknowledged.count) batches acknowledged, \(failures.count) refused; first refusal: \(failures.first.map { "exit \($0.code.map(String.init) ?? "signal") \($0.stderr)" } ?? "none")")
        try #require(!acknowledged.isEmpty, "no CLI append succeeded before writeback failed")
        try #require(!failures.isEmpty, "writeback never failed")
        let killed = failures.filter { $0.code == nil }
        #expect(killed.count == 0, "\(killed.count) refused appends ended by a signal, not an exit status")
        let notOneLine = failures.filter {
            let lines = $0.stderr.split(separator: "\n", omittingEmptySubsequences: false)
            return !(lines.count == 2 && lines[1].isEmpty && !lines[0].isEmpty)
        }
        #expect(notOneLine.count == 0,
                "\(notOneLine.count) of \(failures.count) refused appends did not write one line to stderr, e.g. \(notOneLine.first.map(\.stderr.debugDescription) ?? "")")

        try disk.unmount()
        disk.releaseBackingSpace()
        try disk.mount()
        let audit = try JournalAudit(path: "\(journal)/\(run).jsonl")
        let findings = audit.check(acknowledged)
        print("CLI, failing writeback, after remount: \(findings); \(audit.lines.count) committed lines on disk (\(audit.uncommittedLines) uncommitted)")
        #expect(findings.lostEvents == 0, "acknowledged events lost: \(findings)")
        #expect(findings.partialBatches.isEmpty, "partial batches on disk: \(findings)")
        #expect(findings.seqGap == nil && findings.unreadableLines == 0, "\(findings)")
    }

    /// Runs the CLI to completion with standard input from the file `stdin`.
    private func runCLI(_ arguments: [String], stdin: String) async throws -> (code: Int32?, stdout: String, stderr: String) {
        let process = try RunJournalProcess(arguments: arguments, stdin: stdin)
        _ = await e2eWait(timeout: .seconds(60)) { !process.isRunning }
        let code = process.waitForExit(timeout: .seconds(1))
        return (code, process.stdout, process.stderr)
    }
}
