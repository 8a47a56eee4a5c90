import Foundation
import RunJournal
import Synchronization
import SystemSupport

/// One batch a crash-loop writer sends: `count` events of type `step` whose data names the writer, the
/// batch and the event's place in it, `{"w":W,"b":B,"i":I,"n":N}`, so a journal can be checked line by line
/// against what was sent and a batch cut short is recognizable.
struct CrashBatch: Sendable, Hashable, CustomStringConvertible {
    enum Channel: String, Sendable {
        /// `POST /v1/runs/:id/events` through nginx (application/json for one event, NDJSON for more).
        case http
        /// `runjournal append RUN -` with NDJSON on stdin.
        case cli
    }

    let writer: Int
    let batch: Int
    let count: Int
    let channel: Channel

    struct Key: Hashable, Sendable {
        let writer: Int
        let batch: Int
    }

    var key: Key { Key(writer: writer, batch: batch) }

    var description: String { "\(channel) writer \(writer) batch \(batch) (\(count) events)" }

    func data(_ index: Int) -> String { #"{"w":\#(writer),"b":\#(batch),"i":\#(index),"n":\#(count)}"# }

    /// The NDJSON body of the batch: one `{"type":"step","data":…}` line per event.
    var ndjson: [UInt8] {
        var text = ""
        text.reserveCapacity(count * 64)
        for index in 0..<count { text += #"{"type":"step","data":\#(data(index))}"# + "\n" }
        return Array(text.utf8)
    }

    /// The single-event JSON body (`count` must be 1).
    var json: [UInt8] { Array(#"{"type":"step","data":\#(data(0))}"#.utf8) }
}

/// What became of a batch: acknowledged with its seqs, or not acknowledged (and why).
enum CrashBatchOutcome: Sendable {
    /// HTTP 201 with `first_seq`/`last_seq`, or the CLI's exit 0 with `first-last` on stdout.
    case acknowledged(ClosedRange<Int64>)
    /// Killed, or answered without an acknowledgement (a 502 while the responder was down, say).
    case unacknowledged(String)

    var seqs: ClosedRange<Int64>? {
        if case .acknowledged(let seqs) = self { return seqs }
        return nil
    }
}

/// Every batch sent in one crash-loop round with its outcome; written by the writers' tasks at once.
final class CrashLedger: Sendable {
    private let entries = LockedValue<[(batch: CrashBatch, outcome: CrashBatchOutcome)]>([])

    func record(_ batch: CrashBatch, _ outcome: CrashBatchOutcome) {
        entries.withLock { $0.append((batch, outcome)) }
    }

    var all: [(batch: CrashBatch, outcome: CrashBatchOutcome)] { entries.withLock { $0 } }
}
