import RunJournal

/// Turns the child's output lines into events: a stdout line that is a `{"type":…,"data":…}` object with a
/// valid type outside the lifecycle (`run.*`, which exec alone writes) becomes that event, the way a program
/// reports structured progress; any other line becomes `stdout`/`stderr` `{"line":"…"}`, with invalid UTF-8
/// replaced by U+FFFD and `"continued":true` on a piece of a line longer than the limit.
enum OutputEventMapper {
    enum Stream {
        case stdout, stderr

        var eventType: EventType {
            switch self {
            case .stdout: return Self.stdoutType
            case .stderr: return Self.stderrType
            }
        }

        private static let stdoutType = try! EventType("stdout")
        private static let stderrType = try! EventType("stderr")
    }

    static func event(for piece: OutputLineSplitter.Piece, from stream: Stream) -> NewEvent {
        if stream == .stdout, !piece.continued, let structured = structuredEvent(piece.bytes) {
            return structured
        }
        var data = JSONWriter(reservingCapacity: piece.bytes.count + 24)
        data.object {
            $0.key("line")
            $0.string(String(decoding: piece.bytes, as: UTF8.self))
            if piece.continued {
                $0.key("continued")
                $0.bool(true)
            }
        }
        return NewEvent(type: stream.eventType, compactData: data.bytes)
    }

    /// The event a JSON line spells, or nil when it is not one (then it is kept as a plain line).
    private static func structuredEvent(_ bytes: [UInt8]) -> NewEvent? {
        guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x09 }), first == UInt8(ascii: "{") else { return nil }
        guard let event = try? EventInput.event(fromJSON: bytes) else { return nil }
        if event.type.rawValue.hasPrefix("run.") { return nil }
        return event
    }
}
