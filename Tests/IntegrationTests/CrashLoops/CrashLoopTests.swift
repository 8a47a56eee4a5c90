import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `kill -9` at random moments, round after round: the responder (behind real nginx, `--fsync always`) and
/// `runjournal append` processes are killed while HTTP appenders and CLI writers send single events and
/// batches of up to thousands of events to one run. After each round, what a reader sees and what the file
/// holds must keep every acknowledged event at its acknowledged seq, seqs contiguous from 1, and every batch
/// whole or entirely absent; the next append must continue right after what readers saw and leave a journal
/// `runjournal verify` finds clean.
///
/// The normal test command runs 50 rounds. The long run is the same test with more rounds:
///
///     RUNJOURNAL_CRASH_ROUNDS=1000 swift test --skip-build --filter CrashLoopTests
///
/// Every run prints its seed; `RUNJOURNAL_CRASH_SEED=<seed>` repeats its choices (sizes, delays, victims),
/// though not the scheduling, so a failure found once is likely, not certain, to come back.
@Suite("Crash loops: kill -9 of the responder and of CLI writers")
struct CrashLoopTests {
    static let httpWriters = 3
    static let cliWriters = 2
    /// Writer numbers of the CLI writers start here (HTTP writers are 0, 1, 2).
    static let firstCLIWriter = 100

    @Test("every acknowledged event survives kill -9, seqs stay contiguous, batches are all or nothing")
    func killNineRounds() async throws {
        let rounds = Int(ProcessInfo.processInfo.environment["RUNJOURNAL_CRASH_ROUNDS"] ?? "") ?? 50
        let seed = SeededRandom.seed(fromEnvironment: "RUNJOURNAL_CRASH_SEED")
        print("CrashLoopTests: \(rounds) rounds, seed \(seed) (RUNJOURNAL_CRASH_SEED=\(seed) repeats the choices)")
        var random = SeededRandom(seed: seed)
        let stack = try KillableStack(["--fsync", "always"])
        defer { stack.stop() }
        var tally = CrashTally()
        let started = ContinuousClock.now
        for round in 1...rounds {
            try await runRound(round, seed: seed, stack: stack, random: &random, tally: &tally)
            if round % 100 == 0 { print("CrashLoopTests: \(round) rounds done") }
        }
        print("CrashLoopTests: seed \(seed), \(ContinuousClock.now - started):\n\(tally.report)")
    }

    private func runRound(
        _ round: Int, seed: UInt64, stack: KillableStack, random: inout SeededRandom, tally: inout CrashTally
    ) async throws {
        let context = "round \(round) (seed \(seed))"
        let run = "crash-\(round)"
        let path = "\(stack.journalDirectory)/\(run).jsonl"
        let api = stack.client
        try await api.createRun(id: run)

        let plan = CrashKillPlan(random: &random)
        let ledger = CrashLedger()
        let stop = CrashWriters.StopSignal()
        let live = CrashWriters.LiveProcesses()
        let httpSeeds = (0..<Self.httpWriters).map { _ in random.next() }
        let cliSeeds = (0..<Self.cliWriters).map { _ in random.next() }
        let responder = stack.responderPID
        let journalDirectory = stack.journalDirectory

        let kill: CrashKillPlan.Result = await withTaskGroup(of: CrashKillPlan.Result?.self) { group in
            for (writer, seed) in httpSeeds.enumerated() {
                group.addTask {
                    await CrashWriters.appendOverHTTP(writer: writer, run: run, client: api, maxBatch: 2000, seed: seed, ledger: ledger, stop: stop)
                    return nil
                }
            }
            for (offset, seed) in cliSeeds.enumerated() {
                group.addTask {
                    await CrashWriters.appendWithCLI(
                        writer: Self.firstCLIWriter + offset, run: run, journalDirectory: journalDirectory, sizes: 1500...5000,
                        seed: seed, ledger: ledger, stop: stop, live: live)
                    return nil
                }
            }
            group.addTask {
                let result = await plan.execute(journalPath: path, responder: responder, live: live)
                stop.raise()
                return result
            }
            var kill = CrashKillPlan.Result()
            for await result in group {
                if let result { kill = result }
            }
            return kill
        }
        if kill.responderKilled {
            stack.killResponder()  // reaps it
            try stack.restartResponder()
        }
        let sent = ledger.all
        tally.count(plan: plan, kill: kill, sent: sent)

        // 1. What a reader sees before anyone repairs anything.
        let before = CrashJournalAudit.fileView(path)
        let readerLines: [CrashJournalAudit.Line]
        do {
            readerLines = try CrashJournalAudit.readerView(path)
        } catch {
            Issue.record("\(context): the store's reader failed: \(error)")
            return
        }
        let reader = CrashJournalAudit(lines: readerLines, sent: sent)
        tally.count(before: before, reader: reader)
        expectSound(reader, "\(context), \(plan), what the store's reader yields before the next append")
        #expect(
            reader.partialBatches.isEmpty,
            "\(context), \(plan): the store's reader yields \(reader.partialBatches.count) partial batches: \(reader.partialBatches.prefix(5))")

        // 2. The run as the API shows it, then the next append, through the restarted responder.
        let shown = try await api.show(run)
        #expect(shown["last_seq"] as? Int == Int(reader.lastSeq), "\(context): GET shows last_seq \(shown["last_seq"] ?? "none"), the reader ends at \(reader.lastSeq)")
        let marker = try await api.request(
            "POST", "/v1/runs/\(run)/events", headers: [("Content-Type", "application/json")],
            body: Array(#"{"type":"marker","data":{"round":\#(round)}}"#.utf8))
        let markerSeq = (marker.json as? [String: Any])?["first_seq"] as? Int
        #expect(marker.status == 201, "\(context): the next append answered \(marker.status.map(String.init) ?? "none") \(marker.text.prefix(300))")
        #expect(markerSeq == Int(reader.lastSeq) + 1, "\(context): the next append got seq \(markerSeq.map(String.init) ?? "none"), the reader ended at \(reader.lastSeq)")

        // 3. What the file holds after that append (it cut any torn or unfinished tail).
        let after = CrashJournalAudit.fileView(path)
        let file = CrashJournalAudit(lines: after.lines, sent: sent)
        tally.count(file: file)
        #expect(after.tornTailBytes == 0 && after.malformed.isEmpty, "\(context): after the next append the file has a \(after.tornTailBytes)-byte torn tail, malformed lines \(after.malformed)")
        expectSound(file, "\(context), \(plan), the file after the next append")
        #expect(
            file.partialBatches.isEmpty,
            "\(context), \(plan): after the next append the file holds \(file.partialBatches.count) partial batches: \(file.partialBatches.prefix(5))")
        if let markerSeq { #expect(file.lastSeq == Int64(markerSeq), "\(context): the file ends at seq \(file.lastSeq), the marker got \(markerSeq)") }

        let verify = try OpsCLI.run(["verify", "--journal", stack.journalDirectory, run])
        #expect(verify.status == 0 && verify.stdout == "\(run): ok (\(file.lastSeq) events)\n", "\(context): verify after the next append: \(verify)")

        // Each round leaves a journal of a few MB: the long run must not fill the disk.
        unlink(path)
    }

    /// The checks that hold today as well as under batch commit: nothing acknowledged lost, seqs
    /// contiguous from 1, nothing nobody sent.
    private func expectSound(_ audit: CrashJournalAudit, _ context: String) {
        #expect(audit.seqProblems.isEmpty, "\(context): seqs not contiguous from 1: \(audit.seqProblems)")
        #expect(audit.lostAcknowledged.isEmpty, "\(context): \(audit.lostAcknowledged.count) acknowledged batches are not there whole at their seqs: \(audit.lostAcknowledged.prefix(5))")
        #expect(audit.unknownLines.isEmpty, "\(context): lines nobody sent: \(audit.unknownLines)")
    }
}

/// The figures of a crash-loop run, printed at its end.
private struct CrashTally {
    var rounds = 0
    var plans: [String: Int] = [:]
    var responderKills = 0
    var writerKills = 0
    var killsDuringWrite = 0
    var batches: [CrashBatch.Channel: (sent: Int, acknowledged: Int, events: Int)] = [:]
    var unacknowledgedReasons: [String: Int] = [:]
    var tornTailsBefore = 0
    var trailingMoreLinesBefore = 0
    var partialRoundsReader = 0
    var partialBatchesReader = 0
    var partialEventsReader = 0
    var partialAcknowledgedReader = 0
    var partialBatchesFile = 0
    var wholeUnacknowledged = 0
    var lostAcknowledged = 0
    var seqProblemRounds = 0
    var examples: [String] = []

    mutating func count(plan: CrashKillPlan, kill: CrashKillPlan.Result, sent: [(batch: CrashBatch, outcome: CrashBatchOutcome)]) {
        rounds += 1
        plans["\(plan.victims.rawValue)/\(plan.trigger.rawValue)", default: 0] += 1
        if kill.responderKilled { responderKills += 1 }
        writerKills += kill.writersKilled
        if kill.duringWrite { killsDuringWrite += 1 }
        for (batch, outcome) in sent {
            var entry = batches[batch.channel] ?? (0, 0, 0)
            entry.sent += 1
            if outcome.seqs != nil {
                entry.acknowledged += 1
                entry.events += batch.count
            } else if case .unacknowledged(let reason) = outcome {
                unacknowledgedReasons["\(batch.channel): \(reason.prefix(48))", default: 0] += 1
            }
            batches[batch.channel] = entry
        }
    }

    mutating func count(before: (lines: [CrashJournalAudit.Line], tornTailBytes: Int, malformed: [String]), reader: CrashJournalAudit) {
        if before.tornTailBytes > 0 { tornTailsBefore += 1 }
        trailingMoreLinesBefore += before.lines.reversed().prefix { $0.more }.count
        if !reader.partialBatches.isEmpty { partialRoundsReader += 1 }
        partialBatchesReader += reader.partialBatches.count
        partialEventsReader += reader.partialBatchEvents
        partialAcknowledgedReader += reader.partialBatches.filter { $0.contains("acknowledged as") }.count
        if examples.count < 6 { examples += reader.partialBatches.prefix(6 - examples.count).map { "round \(rounds): \($0)" } }
        lostAcknowledged += reader.lostAcknowledged.count
        if !reader.seqProblems.isEmpty { seqProblemRounds += 1 }
    }

    mutating func count(file: CrashJournalAudit) {
        partialBatchesFile += file.partialBatches.count
        wholeUnacknowledged += file.wholeUnacknowledged
        lostAcknowledged += file.lostAcknowledged.count
        if !file.seqProblems.isEmpty { seqProblemRounds += 1 }
    }

    var report: String {
        var lines: [String] = []
        lines.append("rounds \(rounds); plans \(plans.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        lines.append("kills: responder \(responderKills), CLI writers \(writerKills); kills while a victim held the lock and the journal grew: \(killsDuringWrite) rounds")
        for channel in [CrashBatch.Channel.http, .cli] {
            let entry = batches[channel] ?? (0, 0, 0)
            lines.append("\(channel): \(entry.sent) batches sent, \(entry.acknowledged) acknowledged (\(entry.events) events)")
        }
        lines.append("not acknowledged: \(unacknowledgedReasons.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: "; "))")
        lines.append("acknowledged batches lost: \(lostAcknowledged); rounds with seq problems: \(seqProblemRounds)")
        lines.append("before the next append: torn tails in \(tornTailsBefore) rounds, \(trailingMoreLinesBefore) unfinished (\"more\") lines at the end")
        lines.append("partial batches a reader sees: \(partialBatchesReader) in \(partialRoundsReader) rounds (\(partialEventsReader) events, \(partialAcknowledgedReader) of them acknowledged)")
        lines.append("partial batches in the file after the next append: \(partialBatchesFile)")
        lines.append("whole batches never acknowledged: \(wholeUnacknowledged)")
        lines += examples.map { "  e.g. \($0)" }
        return lines.joined(separator: "\n")
    }
}
