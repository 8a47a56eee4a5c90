import Foundation
import Synchronization

/// Concurrent HTTP appenders to one run that keep going until the journal fails, then send a few more
/// requests each, recording every answer: which batches were acknowledged with which seqs (to check the
/// journal against after the fault) and what every append after the first failure was told.
enum FaultAppenders {
    enum Writer: Sendable {
        /// `POST` one `application/json` event per request.
        case single
        /// `POST` an `application/x-ndjson` batch of this many events per request.
        case batch(Int)
    }

    /// One request's answer.
    struct Outcome: Sendable {
        let batch: Int
        let count: Int
        let status: Int?
        let errorCode: String?
        let seqs: ClosedRange<Int64>?
        /// Sent after some appender had already received a failure: the journal was failed by then.
        let sentAfterFailure: Bool
        let text: String

        var acknowledged: JournalAudit.Acknowledged? {
            guard status == 201, let seqs else { return nil }
            return JournalAudit.Acknowledged(batch: batch, count: count, seqs: seqs)
        }
    }

    /// Runs `writers` against `run` at once until one of them is refused, then lets each send
    /// `extraAfterFailure` more; no writer sends more than `maxRequests` (the disk must fill before that).
    /// Every event carries `padding` bytes of filler, so a few hundred fill a small disk.
    static func run(
        _ client: E2EClient, run: String, writers: [Writer], padding: Int, extraAfterFailure: Int, maxRequests: Int
    ) async throws -> [Outcome] {
        let failureSeen = FailureFlag()
        return try await withThrowingTaskGroup(of: [Outcome].self) { group in
            for (number, writer) in writers.enumerated() {
                group.addTask {
                    var outcomes: [Outcome] = []
                    var extraLeft = extraAfterFailure
                    for request in 0..<maxRequests {
                        let batch = (number + 1) * 100_000 + request
                        let afterFailure = failureSeen.value.load(ordering: .acquiring)
                        if afterFailure {
                            if extraLeft == 0 { break }
                            extraLeft -= 1
                        }
                        let count: Int
                        let response: E2EConnection
                        switch writer {
                        case .single:
                            count = 1
                            response = try await client.post(
                                "/v1/runs/\(run)/events", json: FaultEvents.event(batch: batch, index: 0, count: 1, padding: padding))
                        case .batch(let size):
                            count = size
                            response = try await client.post(
                                "/v1/runs/\(run)/events", json: FaultEvents.ndjson(batch: batch, count: size, padding: padding),
                                contentType: "application/x-ndjson")
                        }
                        var seqs: ClosedRange<Int64>?
                        if let body = response.json as? [String: Any], let first = body["first_seq"] as? Int, let last = body["last_seq"] as? Int, first <= last {
                            seqs = Int64(first)...Int64(last)
                        }
                        outcomes.append(Outcome(
                            batch: batch, count: count, status: response.status, errorCode: response.errorCode, seqs: seqs,
                            sentAfterFailure: afterFailure, text: String(response.text.prefix(300))))
                        if response.status != 201 { failureSeen.value.store(true, ordering: .releasing) }
                    }
                    return outcomes
                }
            }
            var all: [Outcome] = []
            for try await outcomes in group { all += outcomes }
            return all
        }
    }

    /// Set by the first appender that is refused, read by all of them (a class: the tasks share it).
    private final class FailureFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// "201: 412, 507 journal_failed: 40" — for messages.
    static func tally(_ outcomes: [Outcome]) -> String {
        let keys = outcomes.map { "\($0.status.map(String.init) ?? "none")\($0.errorCode.map { " " + $0 } ?? "")" }
        return Dictionary(grouping: keys, by: { $0 }).map { "\($0.key): \($0.value.count)" }.sorted().joined(separator: ", ")
    }
}
