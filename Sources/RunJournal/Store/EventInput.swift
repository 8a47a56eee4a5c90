/// Parses events as producers send them — `{"type":"…","data":…}`, alone or as NDJSON lines — into
/// validated `NewEvent`s. Shared by the HTTP API and the CLI so both accept and refuse exactly the same input.
public enum EventInput {
    /// One `{"type":"…","data":…}` object (`data` defaults to `{}`; no other keys).
    public static func event(fromJSON bytes: some Collection<UInt8>) throws -> NewEvent {
        let compact = try JSONCompactor.compact(Array(bytes))
        return try event(fromCompact: compact[...])
    }

    /// NDJSON: one event object per line; blank lines are skipped. Errors name the line (1-based).
    public static func events(fromNDJSON bytes: [UInt8]) throws -> [NewEvent] {
        var events: [NewEvent] = []
        var lineNumber = 0
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.last == 0x0D ? line.dropLast() : line
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do {
                events.append(try event(fromJSON: trimmed))
            } catch let error as JournalError {
                throw JournalError.onLine(lineNumber, error)
            }
        }
        guard !events.isEmpty else { throw JournalError.invalidBatch("no events in the body") }
        return events
    }

    static func event(fromCompact compact: ArraySlice<UInt8>) throws -> NewEvent {
        guard compact.first == UInt8(ascii: "{") else {
            throw JournalError.invalidJSON(offset: -1, reason: "expected an object {\"type\":…,\"data\":…}")
        }
        var type: EventType?
        var data: ArraySlice<UInt8> = Array("{}".utf8)[...]
        for member in try JSONObjectReader.members(of: compact) {
            switch member.key {
            case "type":
                guard member.value.first == UInt8(ascii: "\"") else {
                    throw JournalError.invalidEventType(String(decoding: member.value.prefix(80), as: UTF8.self))
                }
                type = try EventType(try JSONObjectReader.decodeString(member.value))
            case "data":
                data = member.value
            default:
                throw JournalError.invalidJSON(offset: -1, reason: "unknown key \"\(member.key)\" (an event has only \"type\" and \"data\")")
            }
        }
        guard let type else { throw JournalError.invalidJSON(offset: -1, reason: "missing \"type\"") }
        return NewEvent(type: type, compactData: Array(data))
    }
}

extension JournalError {
    /// The same error, saying which line of an NDJSON batch it is about (and where in that line).
    static func onLine(_ line: Int, _ error: JournalError) -> JournalError {
        switch error {
        case .invalidJSON(let offset, let reason):
            return .invalidJSON(offset: -1, reason: offset >= 0 ? "line \(line), byte \(offset): \(reason)" : "line \(line): \(reason)")
        case .invalidBatch(let reason): return .invalidBatch("line \(line): \(reason)")
        case .invalidEventType: return .invalidJSON(offset: -1, reason: "line \(line): \(error.description)")
        default: return error
        }
    }
}
