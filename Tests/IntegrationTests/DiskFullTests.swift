import Foundation
import Testing

// A full disk, for real: a 16 MiB ext4 image (a plain file under /tmp) on a loop device, mounted under
// /tmp/rj-diskfault-<pid>-*/mnt, with all but a little of its space taken by a preallocated file. The
// responder serves its journal directory on that mount behind real nginx; concurrent appenders (single
// events and NDJSON batches) write until ext4 answers ENOSPC. Then the stack is stopped, the filesystem
// unmounted and mounted again, and the journal on disk is checked against every 201 the appenders got.
// Needs root, loop devices and e2fsprogs; skipped with the reason printed otherwise. LoopFilesystem says
// how the image is built and cleaned up (also after a crashed run).

@Suite("Disk faults: a full disk", .serialized,
       .enabled(if: DiskFaultEnvironment.isAvailable, Comment(rawValue: DiskFaultEnvironment.unavailableReason ?? "")))
struct DiskFullTests {
    @Test("a full disk answers 507, other runs stay readable, no acknowledged event or part of a batch is lost, and the run appends again once there is room", arguments: [false, true])
    func fullDiskLosesNoAcknowledgedEvent(extents: Bool) async throws {
        let disk = try LoopFilesystem(imageMiB: 16, backing: .directory, extents: extents)
        defer { disk.destroy() }
        let journal = disk.mountPoint + "/journal"
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: false)
        let stack = try E2EStack(["--idle-timeout", "off", "--fsync", "always"], kinds: [.nginx], journalDirectory: journal)
        defer { stack.stop() }
        let api = stack.client(.nginx)

        let bystander = try await api.createRun(id: "bystander")
        for step in 0..<5 { try await api.append(bystander, "fault.step", #"{"step":\#(step)}"#) }
        let run = try await api.createRun(id: "filling")
        try disk.fillFilesystem(leavingKiB: 768)

        let outcomes = try await FaultAppenders.run(
            api, run: run, writers: [.single, .single, .batch(5), .batch(8)], padding: 1500,
            extraAfterFailure: 5, maxRequests: 2_000)
        let tally = FaultAppenders.tally(outcomes)
        let acknowledged = outcomes.compactMap(\.acknowledged)
        let failures = outcomes.filter { $0.status != 201 }
        print("full disk: \(tally)")
        try #require(!acknowledged.isEmpty, "no append succeeded before the disk filled: \(tally)")
        try #require(!failures.isEmpty, "the disk never filled: \(tally)")

        // The contract: a full disk is refused with 507. Normally as insufficient_storage, before a byte is
        // written (the store reserves the space with fallocate; without extents, write(2) itself refuses) and
        // the run stays good; only if writeback fails afterwards is the journal failed (507 journal_failed).
        let otherAnswers = failures.filter { $0.status != 507 || !["insufficient_storage", "journal_failed"].contains($0.errorCode ?? "") }
        #expect(otherAnswers.count == 0,
                "\(otherAnswers.count) of \(failures.count) refused appends did not answer 507, e.g. \(otherAnswers.first.map { "\($0.status.map(String.init) ?? "none") \($0.text)" } ?? ""); all: \(tally)")
        let journalFailed = failures.contains { $0.errorCode == "journal_failed" }
        if journalFailed {
            let acknowledgedAfterFailure = outcomes.filter { $0.sentAfterFailure && $0.status == 201 }
            #expect(acknowledgedAfterFailure.count == 0,
                    "\(acknowledgedAfterFailure.count) appends sent after the journal failed were acknowledged; all: \(tally)")
        }
        print("full disk (extents: \(extents)): journal failed: \(journalFailed)")

        // Other runs on the same disk, and the failed run itself, still answer reads.
        let shownBystander = try await api.show(bystander)
        #expect(shownBystander["last_seq"] as? Int == 6, "bystander: \(shownBystander)")
        let shownRun = try await api.get("/v1/runs/\(run)")
        #expect(shownRun.status == 200, "GET the failed run: \(shownRun.status.map(String.init) ?? "none") \(shownRun.text)")
        let listed = try await api.get("/v1/runs?limit=10")
        #expect(listed.status == 200, "GET /v1/runs: \(listed.status.map(String.init) ?? "none") \(listed.text)")

        // What a reboot finds.
        stack.stop()
        try disk.unmount()
        try disk.mount()
        let audit = try JournalAudit(path: "\(journal)/\(run).jsonl")
        let findings = audit.check(acknowledged)
        print("full disk, after remount: \(findings); \(audit.lines.count) committed lines (\(audit.uncommittedLines) uncommitted), torn tail \(audit.tornTailBytes) bytes")
        #expect(findings.lostEvents == 0, "acknowledged events lost: \(findings)")
        #expect(findings.partialBatches.isEmpty, "partial batches on disk: \(findings)")
        #expect(findings.seqGap == nil && findings.unreadableLines == 0, "\(findings)")
        let bystanderAudit = try JournalAudit(path: "\(journal)/\(bystander).jsonl")
        #expect(bystanderAudit.lines.map(\.seq) == Array(1...6))

        // The operator makes room (and repairs the run if it failed): the run appends again, at the next seq.
        disk.releaseFilesystemSpace()
        if journalFailed {
            let repair = try await e2eRunCLI(["verify", "--journal", journal, "--repair", run])
            #expect(repair.code == 0, "verify --repair: \(repair.stdout)\(repair.stderr)")
        }
        let lastOnDisk = try JournalAudit(path: "\(journal)/\(run).jsonl").lines.last?.seq ?? 0
        let again = try E2EStack(["--idle-timeout", "off", "--fsync", "always"], kinds: [.nginx], journalDirectory: journal)
        defer { again.stop() }
        let seq = try await again.client(.nginx).append(run, "fault.after")
        #expect(seq == Int(lastOnDisk) + 1)
    }
}
