import Foundation
import RunJournal
import Synchronization
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The writers of a crash-loop round: HTTP appenders through nginx and `runjournal append` processes, each
/// sending batches until the round's stop signal, recording every batch and its outcome in the ledger.
/// Sizes come from each writer's own seeded generator; the moments depend on scheduling.
enum CrashWriters {
    /// Raised once the round's kill has happened: writers finish what they are doing and send no more.
    final class StopSignal: Sendable {
        private let raised = Atomic<Bool>(false)
        func raise() { raised.store(true, ordering: .releasing) }
        var isRaised: Bool { raised.load(ordering: .acquiring) }
    }

    /// The `runjournal append` processes running right now, so the round's kill can reach them.
    final class LiveProcesses: Sendable {
        private let processes = LockedValue<[Int: ChildProcess]>([:])

        func add(_ process: ChildProcess, writer: Int) { processes.withLock { $0[writer] = process } }
        func remove(writer: Int) { processes.withLock { $0[writer] = nil } }

        var pids: [pid_t] { processes.withLock { $0.values.map(\.pid) } }

        /// SIGKILL to every one still running; how many were signalled.
        func killAll() -> Int {
            processes.withLock { live in
                var killed = 0
                for process in live.values where process.isRunning {
                    process.signal(SIGKILL)
                    killed += 1
                }
                return killed
            }
        }
    }

    /// POSTs batches to `run` through nginx until `stop`: about a third single events
    /// (`application/json`), the rest NDJSON batches of 2 to `maxBatch` events.
    static func appendOverHTTP(
        writer: Int, run: String, client: E2EClient, maxBatch: Int, seed: UInt64, ledger: CrashLedger, stop: StopSignal
    ) async {
        var random = SeededRandom(seed: seed)
        var number = 0
        while !stop.isRaised {
            number += 1
            let count = Int.random(in: 0..<3, using: &random) == 0 ? 1 : Int.random(in: 2...maxBatch, using: &random)
            let batch = CrashBatch(writer: writer, batch: number, count: count, channel: .http)
            let contentType = count == 1 ? "application/json" : "application/x-ndjson"
            do {
                let response = try await client.request(
                    "POST", "/v1/runs/\(run)/events", headers: [("Content-Type", contentType)],
                    body: count == 1 ? batch.json : batch.ndjson, timeout: .seconds(120))
                let object = response.json as? [String: Any]
                if response.status == 201, let first = object?["first_seq"] as? Int, let last = object?["last_seq"] as? Int {
                    ledger.record(batch, .acknowledged(Int64(first)...Int64(last)))
                } else if let status = response.status {
                    ledger.record(batch, .unacknowledged("HTTP \(status) \(response.text.prefix(160))"))
                } else {
                    // nginx drops the connection on this route when the responder is gone (502 → 444).
                    ledger.record(batch, .unacknowledged("closed without a response"))
                }
            } catch {
                ledger.record(batch, .unacknowledged("HTTP request failed: \(error)"))
            }
        }
    }

    /// Runs `runjournal append --journal DIR RUN - --fsync always` with an NDJSON batch of `sizes` events on
    /// stdin, one process after another, until `stop`.
    static func appendWithCLI(
        writer: Int, run: String, journalDirectory: String, sizes: ClosedRange<Int>, seed: UInt64,
        ledger: CrashLedger, stop: StopSignal, live: LiveProcesses
    ) async {
        var random = SeededRandom(seed: seed)
        var number = 0
        guard let scratch = try? TemporaryDirectory(prefix: "cw"), let binary = try? TestPaths.runjournalBinary() else {
            ledger.record(CrashBatch(writer: writer, batch: 0, count: 0, channel: .cli), .unacknowledged("cannot set up the writer"))
            return
        }
        while !stop.isRaised {
            number += 1
            let batch = CrashBatch(writer: writer, batch: number, count: Int.random(in: sizes, using: &random), channel: .cli)
            let input = scratch.file("in"), output = scratch.file("out"), errors = scratch.file("err")
            for file in [output, errors] { unlink(file) }
            guard FileManager.default.createFile(atPath: input, contents: Data(batch.ndjson)) else {
                ledger.record(batch, .unacknowledged("cannot write the batch's input file"))
                return
            }
            let process: ChildProcess
            do {
                process = try ChildProcess(
                    executable: binary, arguments: ["append", "--journal", journalDirectory, run, "-", "--fsync", "always"],
                    stdin: input, stdout: .file(output), stderr: .file(errors))
            } catch {
                ledger.record(batch, .unacknowledged("not started: \(error)"))
                return
            }
            live.add(process, writer: writer)
            let status = await process.exited(within: .seconds(300))
            live.remove(writer: writer)
            let printed = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let seqs = printed.split(separator: "-").compactMap { Int64($0) }
            switch status {
            case .some(let status) where ChildProcess.exitCode(status) == 0 && seqs.count == 2 && seqs[0] <= seqs[1]:
                ledger.record(batch, .acknowledged(seqs[0]...seqs[1]))
            case .some(let status) where ChildProcess.terminatingSignal(status) == SIGKILL:
                ledger.record(batch, .unacknowledged("killed"))
            case .some(let status):
                let stderr = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
                ledger.record(batch, .unacknowledged("exit status \(status), stdout \(printed.debugDescription), stderr \(stderr.suffix(300))"))
            case nil:
                process.terminate(grace: .seconds(1))
                ledger.record(batch, .unacknowledged("did not finish"))
            }
        }
    }
}
