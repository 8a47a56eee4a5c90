/// Server-Sent Events framing, byte-exact, shared by the stream and `runjournal replay --format sse` so the
/// two can never differ.
public enum SSEFrame {
    /// `retry: <ms>\n\n` — the reconnect hint, always the first frame.
    public static func retry(milliseconds: Int) -> [UInt8] {
        Array("retry: \(milliseconds)\n\n".utf8)
    }

    /// `: heartbeat\n\n` — a comment: keeps proxies from closing an idle connection, and detects a dead client.
    public static let heartbeat: [UInt8] = Array(": heartbeat\n\n".utf8)

    /// `id: <seq>\nevent: <type>\ndata: <data>\n\n`. `data` is the stored compact JSON, which never contains a
    /// raw newline, so one `data:` line always suffices.
    public static func appendEvent(
        seq: Int64, type: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer, to out: inout [UInt8]
    ) {
        out.append(contentsOf: "id: ".utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(contentsOf: "\nevent: ".utf8)
        out.append(contentsOf: type)
        out.append(contentsOf: "\ndata: ".utf8)
        out.append(contentsOf: data)
        out.append(contentsOf: "\n\n".utf8)
    }
}
