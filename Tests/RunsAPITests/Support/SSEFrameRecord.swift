/// One Server-Sent Events frame as a client would see it, with the virtual time of the write that completed it.
///
/// The parser is deliberately strict, following the stream's byte-exact contract rather than the lenient
/// browser algorithm: a frame ends with a blank line, an event frame is exactly `id` (`<seq>.<incarnation>`), `event`, `data` in that
/// order, and anything else becomes `.malformed` so a test sees it.
struct SSEFrameRecord: Equatable, CustomStringConvertible {
    enum Kind: Equatable {
        case retry(Int)
        case comment(String)
        /// `id` is the seq and `incarnation` the part after the '.' of the frame's `id: <seq>.<incarnation>`.
        case event(id: Int64, incarnation: String, type: String, data: [UInt8])
        /// Bytes that are not a frame of the contract (or a trailing frame without its blank line).
        case malformed([UInt8])
    }

    var kind: Kind
    var atMillis: Int64
    /// The frame's bytes including its terminating `\n\n`.
    var raw: [UInt8]

    var eventID: Int64? {
        if case .event(let id, _, _, _) = kind { return id }
        return nil
    }

    var eventType: String? {
        if case .event(_, _, let type, _) = kind { return type }
        return nil
    }

    var dataText: String? {
        if case .event(_, _, _, let data) = kind { return String(decoding: data, as: UTF8.self) }
        return nil
    }

    var incarnation: String? {
        if case .event(_, let incarnation, _, _) = kind { return incarnation }
        return nil
    }

    var isHeartbeat: Bool { kind == .comment(" heartbeat") }

    var description: String {
        "@\(atMillis) " + String(decoding: raw.prefix(200), as: UTF8.self).replacingNewlines()
    }

    static func parse(_ writes: [RecordingWriter.Write]) -> [SSEFrameRecord] {
        var frames: [SSEFrameRecord] = []
        var pending: [UInt8] = []
        for write in writes {
            for byte in write.bytes {
                pending.append(byte)
                if byte == 0x0A, pending.count >= 2, pending[pending.count - 2] == 0x0A {
                    frames.append(SSEFrameRecord(kind: kind(of: Array(pending.dropLast(2))), atMillis: write.atMillis, raw: pending))
                    pending.removeAll(keepingCapacity: true)
                }
            }
        }
        if !pending.isEmpty {
            frames.append(SSEFrameRecord(kind: .malformed(pending), atMillis: writes.last?.atMillis ?? 0, raw: pending))
        }
        return frames
    }

    private static func kind(of body: [UInt8]) -> Kind {
        let lines = body.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        func value(_ line: [UInt8], after prefix: String) -> [UInt8]? {
            let prefixBytes = Array(prefix.utf8)
            guard line.starts(with: prefixBytes) else { return nil }
            return Array(line.dropFirst(prefixBytes.count))
        }
        if lines.count == 1 {
            if let value = value(lines[0], after: "retry: "), let millis = Int(String(decoding: value, as: UTF8.self)) {
                return .retry(millis)
            }
            if let value = value(lines[0], after: ":") {
                return .comment(String(decoding: value, as: UTF8.self))
            }
        }
        if lines.count == 3,
            let idText = value(lines[0], after: "id: "),
            let dot = idText.firstIndex(of: UInt8(ascii: ".")),
            let id = Int64(String(decoding: idText[..<dot], as: UTF8.self)),
            case let incarnation = String(decoding: idText[(dot + 1)...], as: UTF8.self),
            !incarnation.isEmpty, incarnation.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) }),
            let type = value(lines[1], after: "event: "),
            let data = value(lines[2], after: "data: ")
        {
            return .event(id: id, incarnation: incarnation, type: String(decoding: type, as: UTF8.self), data: data)
        }
        return .malformed(body)
    }
}

extension Array where Element == SSEFrameRecord {
    var events: [SSEFrameRecord] { filter { $0.eventID != nil } }
    var eventIDs: [Int64] { compactMap(\.eventID) }
    var heartbeats: [SSEFrameRecord] { filter(\.isHeartbeat) }
    var malformed: [SSEFrameRecord] {
        filter { if case .malformed = $0.kind { return true } else { return false } }
    }
}

extension String {
    func replacingNewlines() -> String {
        var out = ""
        for character in self { out += character == "\n" ? "\\n" : String(character) }
        return out
    }
}
