import ArgumentParser
import RunJournal
import RunsAPI

#if canImport(Glibc)
import Glibc
#endif

/// The output formats of `tail` and `replay`.
enum EventFormat: String, ExpressibleByArgument, CaseIterable {
    /// `2026-11-25 01:02:03.456  #12  tool.started  {"name":"search"}`, for people.
    case text
    /// The journal lines as stored, for `jq`.
    case jsonl
    /// The bytes the server's event stream sends (`SSEFrame`), beginning with its `retry:` frame.
    case sse
}

/// What a journal line's type means to a follower, read from its bytes without building a `String` (the
/// check runs once per line at GB/s).
enum LineKind {
    case terminal
    case lifecycle
    case other

    private static let runPrefix = Array("run.".utf8)

    static func of(_ type: UnsafeRawBufferPointer) -> LineKind {
        if EventType.lifecycle(type)?.isTerminal == true { return .terminal }
        guard type.count > runPrefix.count, memcmp(type.baseAddress!, runPrefix, runPrefix.count) == 0 else { return .other }
        return .lifecycle
    }
}

/// Turns journal lines into one output format, appending to an `OutputBuffer` (no per-line allocation on
/// any path; the sse frame is written by `SSEFrame.writeEvent`, the server's own framing code).
struct EventRenderer {
    let format: EventFormat
    let terminal: Terminal
    /// Printed before every line (`tail -f --all`: the run id), already padded.
    var prefix: [UInt8] = []
    /// Digits the text format pads `#seq` to, so columns line up (the journal's last seq when it was opened).
    var seqDigits: Int = 1
    /// The run's incarnation in sse ids (`EventID`), from its `run.created`: set by whoever renders sse.
    var incarnation: [UInt8] = []

    init(format: EventFormat, terminal: Terminal) {
        self.format = format
        self.terminal = terminal
    }

    /// The stream's first frame: `retry: <ms>` for sse, nothing otherwise.
    func header(retryMillis: Int) -> [UInt8] {
        format == .sse ? SSEFrame.retry(milliseconds: retryMillis) : []
    }

    /// Appends `line` rendered. Returns the line's kind so callers can stop after a terminal event.
    @inline(__always)
    @discardableResult
    func render(_ line: JournalReader.Line, into out: inout OutputBuffer) throws -> LineKind {
        let kind = LineKind.of(line.type)
        switch format {
        case .sse:
            let type = line.type, data = line.data
            try incarnation.withUnsafeBytes { incarnation in
                try out.withSpace(SSEFrame.eventByteCount(seq: line.seq, incarnation: incarnation, type: type, data: data)) { destination in
                    SSEFrame.writeEvent(seq: line.seq, incarnation: incarnation, type: type, data: data, to: destination)
                }
            }
        case .jsonl:
            if !prefix.isEmpty { try appendPrefix(into: &out) }
            try out.append(line.bytes)
            try out.append(byte: 0x0A)
        case .text:
            try renderText(line, kind: kind, into: &out)
        }
        return kind
    }

    private func appendPrefix(into out: inout OutputBuffer) throws {
        try terminal.begin(.magenta, into: &out)
        try out.append(prefix)
        try terminal.end(into: &out)
    }

    private static let typePrefixCount = #"","type":""#.utf8.count

    private func renderText(_ line: JournalReader.Line, kind: LineKind, into out: inout OutputBuffer) throws {
        if !prefix.isEmpty { try appendPrefix(into: &out) }
        // `ts` sits right before `","type":"` and is always 24 bytes: print it as `YYYY-MM-DD HH:MM:SS.mmm`.
        let tsEnd = line.fields.type.lowerBound - Self.typePrefixCount
        let ts = UnsafeRawBufferPointer(rebasing: line.bytes[(tsEnd - Timestamp.byteCount)..<tsEnd])
        try terminal.begin(.dim, into: &out)
        try out.append(UnsafeRawBufferPointer(rebasing: ts[0..<10]))
        try out.append(byte: UInt8(ascii: " "))
        try out.append(UnsafeRawBufferPointer(rebasing: ts[11..<23]))
        try terminal.end(into: &out)
        try out.append("  #" as StaticString)
        try out.append(decimal: line.seq, paddedTo: seqDigits)
        try out.append("  " as StaticString)
        if kind != .other { try terminal.begin(Self.style(of: line.type, kind: kind), into: &out) }
        try out.append(line.type)
        if kind != .other { try terminal.end(into: &out) }
        try out.append("  " as StaticString)
        try out.append(line.data)
        try out.append(byte: 0x0A)
    }

    private static func style(of type: UnsafeRawBufferPointer, kind: LineKind) -> Terminal.Style {
        guard kind == .terminal else { return .cyan }
        switch type.count {
        case "run.completed".utf8.count: return .green
        case "run.failed".utf8.count: return .red
        default: return .yellow
        }
    }

    /// Characters of `value` in decimal, the sign included.
    static func digits(_ value: Int64) -> Int { DecimalText.count(value) }
}
