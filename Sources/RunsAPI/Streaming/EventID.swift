import RunJournal

/// The SSE `id:` of an event: `<seq>.<incarnation>`, and the resume point a client sends back with it.
///
/// A seq alone names an event only within one journal. A run deleted (pruned, or removed by hand) and created
/// again under the same id starts again at seq 1, and a client holding `Last-Event-ID: 40` from the old run
/// would silently skip the new run's first 40 events. The incarnation names the journal the seq belongs to:
/// the `run.created` time in milliseconds, in lowercase base 36 (8 characters from 1973 to 2059). A resume
/// point whose incarnation is not the run's replays the run from its start; a plain integer (a client of an
/// older server) is taken as a seq of the current incarnation, as before. Two incarnations created in the same
/// millisecond cannot be told apart; that is accepted.
public enum EventID {
    /// The incarnation text of a run whose `run.created` has `ts` = `createdAtMillis`.
    public static func incarnation(createdAtMillis: Int64) -> [UInt8] {
        var value = UInt64(max(0, createdAtMillis))
        var digits: [UInt8] = []
        repeat {
            let digit = UInt8(value % 36)
            digits.append(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            value /= 36
        } while value > 0
        return digits.reversed()
    }

    /// The whole id of event `seq` of that incarnation, as text (`"5.mzkplxa8"`).
    public static func text(seq: Int64, incarnation: [UInt8]) -> String {
        "\(seq)." + String(decoding: incarnation, as: UTF8.self)
    }

    /// What a client sent back: the seq it saw last and, unless it is a legacy client, the incarnation.
    public struct ResumePoint: Sendable, Equatable {
        public var seq: Int64
        public var incarnation: [UInt8]?

        public init(seq: Int64, incarnation: [UInt8]?) {
            self.seq = seq
            self.incarnation = incarnation
        }

        /// The seq to resume after in the incarnation `current`: this point's seq when it belongs to
        /// `current` (or names no incarnation), 0 (from the start) when it belongs to another one.
        public func seq(in current: [UInt8]) -> Int64 {
            guard let incarnation, incarnation != current else { return seq }
            return 0
        }
    }

    /// Parses `<seq>` or `<seq>.<incarnation>` (seq: decimal digits that fit in 64 bits, clamped to
    /// Int64.max; incarnation: 1–13 characters of lowercase base 36). Nil for anything else.
    public static func parse(_ text: Substring) -> ResumePoint? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let seqText = parts[0]
        guard !seqText.isEmpty, seqText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let seq = UInt64(seqText)
        else { return nil }
        var incarnation: [UInt8]?
        if parts.count == 2 {
            let bytes = Array(parts[1].utf8)
            let isBase36 = bytes.allSatisfy {
                ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z"))
            }
            guard (1...13).contains(bytes.count), isBase36 else { return nil }
            incarnation = bytes
        }
        // Beyond any possible seq: just wait (seqs are Int64).
        return ResumePoint(seq: Int64(clamping: seq), incarnation: incarnation)
    }
}
