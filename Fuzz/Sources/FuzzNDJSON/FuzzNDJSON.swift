import FuzzSupport
import RunJournal

/// EventInput.events(fromNDJSON:) against a reference built from the documented rules (one event object per
/// `\n`-separated line, an optional `\r` before the `\n`, blank lines skipped, only the keys `type` and
/// `data`, `data` defaulting to `{}`), judged with the reference JSON parser:
/// - a batch is accepted exactly when every non-blank line is a valid event and there is at least one, and
///   then the events are the reference's, in order;
/// - a refused batch names the first bad line;
/// - accepted events round-trip: written back as NDJSON (with `\n` or `\r\n`, blank lines between) they parse
///   to the same events, and each event's data is already compact.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNDJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    checkNDJSON(inputBytes(data, size))
    return 0
}

struct ExpectedEvent: Equatable {
    var type: String
    var data: [UInt8]
}

/// What one non-blank line should give: an event, or nil when the line must be refused.
func referenceEvent(_ line: [UInt8]) -> ExpectedEvent? {
    guard let document = ReferenceJSON.parse(line, maxDepth: JSONCompactor.maxDepth),
        case .object(let members) = document.value
    else { return nil }
    var type: String?
    var data = Array("{}".utf8)
    for member in members {
        // Keys compared scalar by scalar: a key that is only canonically equivalent to "type" is another key.
        switch member.key {
        case Array("type".unicodeScalars):
            guard case .string(let scalars) = member.value else { return nil }
            let text = String(String.UnicodeScalarView(scalars))
            guard EventType.isValid(text) else { return nil }
            type = text
        case Array("data".unicodeScalars):
            data = member.compactValue
        default:
            return nil
        }
    }
    return type.map { ExpectedEvent(type: $0, data: data) }
}

func parsed(_ bytes: [UInt8]) -> Result<[ExpectedEvent], Error> {
    Result { try EventInput.events(fromNDJSON: bytes).map { ExpectedEvent(type: $0.type.rawValue, data: $0.data) } }
}

func checkNDJSON(_ input: [UInt8]) {
    var expected: [ExpectedEvent] = []
    var firstBadLine: Int?
    for (index, rawLine) in input.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
        var line = Array(rawLine)
        if line.last == 0x0D { line.removeLast() }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
        guard let event = referenceEvent(line) else {
            firstBadLine = index + 1
            break
        }
        expected.append(event)
    }

    switch parsed(input) {
    case .success(let events):
        require(firstBadLine == nil, "accepted \(show(input)) although line \(firstBadLine!) is not a valid event")
        require(events == expected, "events \(events) are not the reference's \(expected) for \(show(input))")
        for event in events {
            require((try? JSONCompactor.compact(event.data)) == event.data, "data \(show(event.data)) is not compact")
        }
        checkRoundTrip(events)
    case .failure(let error):
        if let firstBadLine {
            guard let error = error as? JournalError, case .invalidJSON(_, let reason) = error else {
                require(false, "line \(firstBadLine) is bad but the error is \(error)")
                return
            }
            require(reason.hasPrefix("line \(firstBadLine):") || reason.hasPrefix("line \(firstBadLine),"),
                    "error \(reason.debugDescription) does not name line \(firstBadLine) of \(show(input))")
        } else {
            require(expected.isEmpty, "refused \(show(input)), the reference reads \(expected): \(error)")
        }
    }
}

func checkRoundTrip(_ events: [ExpectedEvent]) {
    for (separator, filler) in [("\n", ""), ("\r\n", " \t\r\n")] {
        var ndjson: [UInt8] = []
        for event in events {
            var writer = JSONWriter()
            writer.object { object in
                object.key("type")
                object.string(event.type)
                object.key("data")
                object.raw(event.data)
            }
            ndjson += writer.bytes + Array(separator.utf8) + Array(filler.utf8)
        }
        let reread = parsed(ndjson)
        require((try? reread.get()) == events, "written back as \(show(ndjson)), the events read as \(reread)")
    }
}
