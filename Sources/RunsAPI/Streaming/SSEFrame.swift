import RunJournal

/// Server-Sent Events framing, byte-exact, shared by the stream and `runjournal replay --format sse` so the
/// two can never differ.
public enum SSEFrame {
    /// `retry: <ms>\n\n` — the reconnect hint, always the first frame.
    public static func retry(milliseconds: Int) -> [UInt8] {
        Array("retry: \(milliseconds)\n\n".utf8)
    }

    /// `: heartbeat\n\n` — a comment: keeps proxies from closing an idle connection, and detects a dead client.
    public static let heartbeat: [UInt8] = Array(": heartbeat\n\n".utf8)

    /// `id: <seq>.<incarnation>\nevent: <type>\ndata: <data>\n\n` (the id: `EventID`). `data` is the stored
    /// compact JSON, which never contains a raw newline, so one `data:` line always suffices.
    public static func appendEvent(
        seq: Int64, incarnation: [UInt8], type: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer, to out: inout [UInt8]
    ) {
        incarnation.withUnsafeBytes { incarnation in
            let count = eventByteCount(seq: seq, incarnation: incarnation, type: type, data: data)
            let start = out.count
            out.append(contentsOf: repeatElement(0, count: count))
            out.withUnsafeMutableBytes { raw in
                _ = writeEvent(seq: seq, incarnation: incarnation, type: type, data: data, to: raw.baseAddress! + start)
            }
        }
    }

    /// The size of the frame `appendEvent` / `writeEvent` produce for this event.
    @inlinable
    public static func eventByteCount(
        seq: Int64, incarnation: UnsafeRawBufferPointer, type: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer
    ) -> Int {
        // "id: " + digits + "." + incarnation + "\nevent: " + type + "\ndata: " + data + "\n\n"
        4 + DecimalText.count(seq) + 1 + incarnation.count + 8 + type.count + 7 + data.count + 2
    }

    /// Writes the frame `appendEvent` appends, to `destination`, which must have room for `eventByteCount`
    /// bytes; returns that count. The one framing implementation: the server's stream (through
    /// `appendEvent`) and `runjournal replay` (straight into its output buffer, at GB/s) both use it, so they
    /// cannot differ by a byte.
    @inlinable
    public static func writeEvent(
        seq: Int64, incarnation: UnsafeRawBufferPointer, type: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer,
        to destination: UnsafeMutableRawPointer
    ) -> Int {
        var cursor = destination
        @inline(__always) func put(_ bytes: UnsafeRawBufferPointer) {
            if bytes.count > 0 { cursor.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            cursor += bytes.count
        }
        @inline(__always) func put(_ literal: StaticString) {
            cursor.copyMemory(from: literal.utf8Start, byteCount: literal.utf8CodeUnitCount)
            cursor += literal.utf8CodeUnitCount
        }
        put("id: ")
        cursor += DecimalText.write(seq, to: cursor)
        put(".")
        put(incarnation)
        put("\nevent: ")
        put(type)
        put("\ndata: ")
        put(data)
        put("\n\n")
        return destination.distance(to: cursor)
    }

    /// `id: <seq>.<incarnation>\ndata: <line>\n\n` — an unnamed message (what `EventSource.onmessage` gets)
    /// carrying the whole journal line, for `GET /v1/runs/:id/events?format=lines`. A journal line is compact
    /// JSON without a raw newline, so one `data:` line always suffices; it is sent exactly as stored, batch
    /// (`more`) and `idempotency` keys included (docs/journal-format.md).
    public static func appendLine(
        seq: Int64, incarnation: [UInt8], line: UnsafeRawBufferPointer, to out: inout [UInt8]
    ) {
        out.append(contentsOf: "id: ".utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(UInt8(ascii: "."))
        out.append(contentsOf: incarnation)
        out.append(contentsOf: "\ndata: ".utf8)
        out.append(contentsOf: line)
        out.append(contentsOf: "\n\n".utf8)
    }
}
