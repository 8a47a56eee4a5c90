import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 exchange over a plain loopback TCP socket, sent byte for byte as given.
///
/// Why not curl: the end-to-end tests need hundreds of simultaneous requests and streams (curl's
/// `--parallel` caps at 300 transfers, and a curl process per stream costs a process each), and hostile
/// request targets must reach the web server exactly as written (curl normalizes `/../`). Every request
/// says `Connection: close`, so a response ends when the server closes the connection; a chunked body is
/// decoded as it arrives, so a Server-Sent Events stream can be read frame by frame while it is open.
/// Not thread-safe: one test drives it (and `pumpAll` drives many at once, one `poll` per round).
final class E2EConnection: @unchecked Sendable {
    /// The request could not be sent (no listener, a reset while writing).
    struct ConnectError: Error, CustomStringConvertible {
        let description: String
    }

    private(set) var fd: Int32
    /// Everything received, undecoded.
    private(set) var raw: [UInt8] = []
    /// The status of the response, once its head is complete.
    private(set) var status: Int?
    /// The response's header fields, in order.
    private(set) var headers: [(name: String, value: String)] = []
    /// The response body received so far (chunked transfer coding removed).
    private(set) var body: [UInt8] = []
    /// The server closed the connection (or it failed): nothing more will arrive.
    private(set) var ended = false
    /// The error that ended the connection, if it was not an orderly close.
    private(set) var failure: Int32?

    private var headLength: Int?
    private var chunked = false
    private var pending: [UInt8] = []
    private var chunkRemaining = 0
    private var chunkState = ChunkState.size

    private enum ChunkState {
        case size, data, dataEnd, done
    }

    /// Connects to 127.0.0.1:`port` and sends the request. `target` is sent verbatim (no normalization,
    /// no escaping); `Host`, `Connection: close` and `Content-Length` (for a body, and 0 on a body-less
    /// POST, PUT or PATCH) are added.
    convenience init(port: Int, method: String = "GET", target: String, headers: [(String, String)] = [], body: [UInt8]? = nil) throws {
        try self.init(port: port, method: method, rawTarget: Array(target.utf8), headers: headers, body: body)
    }

    /// The same with a target of raw bytes (invalid UTF-8 included), for hostile requests.
    init(port: Int, method: String = "GET", rawTarget: [UInt8], headers: [(String, String)] = [], body: [UInt8]? = nil) throws {
        guard let connected = LoopbackPort.connect(port) else {
            fd = -1
            throw ConnectError(description: "connect 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        fd = connected
        var request = Array("\(method) ".utf8) + rawTarget + Array(" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n".utf8)
        for (name, value) in headers { request += Array("\(name): \(value)\r\n".utf8) }
        if let body {
            request += Array("Content-Length: \(body.count)\r\n".utf8)
        } else if ["POST", "PUT", "PATCH"].contains(method) {
            // As browsers do: lighttpd answers a body-less POST without a length 411.
            request += Array("Content-Length: 0\r\n".utf8)
        }
        request += Array("\r\n".utf8)
        if let body { request += body }
        guard writeAll(request) else {
            let code = errno
            Glibc.close(fd)
            fd = -1
            throw ConnectError(description: "sending the request to 127.0.0.1:\(port) failed: \(String(cString: strerror(code)))")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit { close() }

    private func writeAll(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            sent += count
        }
        return true
    }

    /// Closes the socket at once, as a browser does when its tab goes away.
    func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
        ended = true
    }

    // MARK: reading

    /// Reads whatever has arrived, without blocking. Returns whether anything new came (or the end).
    @discardableResult
    func pump() -> Bool {
        guard fd >= 0, !ended else { return false }
        var progressed = false
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                absorb(chunk[..<count])
                progressed = true
                continue
            }
            if count == 0 {
                ended = true
                return true
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return progressed
            default:
                failure = errno
                ended = true
                return true
            }
        }
    }

    /// Reads until `predicate(self)` holds, the connection ends, or `timeout` passes; whether it held.
    @discardableResult
    func wait(timeout: Duration, until predicate: (E2EConnection) -> Bool) async -> Bool {
        await E2EConnection.pumpAll([self], timeout: timeout) { _ in predicate(self) }
    }

    /// Waits for the server to end the response; true if it did within `timeout`.
    func waitForEnd(timeout: Duration) async -> Bool {
        await wait(timeout: timeout) { $0.ended }
    }

    /// Reads every connection as data arrives until `predicate(connections)` holds or `timeout` passes;
    /// whether it held. Between rounds it sleeps with `Task.sleep` rather than blocking in `poll`, so a
    /// test waiting on a stream leaves its thread to the other tests running in parallel.
    @discardableResult
    static func pumpAll(_ connections: [E2EConnection], timeout: Duration, until predicate: ([E2EConnection]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        for connection in connections { connection.pump() }
        while true {
            if predicate(connections) { return true }
            if ContinuousClock.now >= deadline {
                // Read what arrived while this task waited for a thread: on a loaded machine it can be
                // scheduled again only after the deadline, with the answer long since in the socket.
                for connection in connections { connection.pump() }
                return predicate(connections)
            }
            let open = connections.filter { !$0.ended && $0.fd >= 0 }
            // Nothing can change any more.
            if open.isEmpty { return predicate(connections) }
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), 0) > 0 {
                for (connection, polled) in zip(open, fds) where polled.revents != 0 { connection.pump() }
            } else {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    private func absorb(_ bytes: ArraySlice<UInt8>) {
        raw += bytes
        if headLength == nil {
            guard let end = Self.find(Array("\r\n\r\n".utf8), in: raw[...]) else { return }
            headLength = end + 4
            parseHead(raw[..<end])
            pending = Array(raw[(end + 4)...])
        } else {
            pending += bytes
        }
        decodeBody()
    }

    private func parseHead(_ head: ArraySlice<UInt8>) {
        let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
        if let first = lines.first {
            status = first.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        chunked = header("Transfer-Encoding")?.lowercased().contains("chunked") ?? false
    }

    private func decodeBody() {
        guard chunked else {
            body += pending
            pending.removeAll()
            return
        }
        var index = 0
        loop: while index < pending.count {
            switch chunkState {
            case .size:
                guard let lineEnd = Self.find(Array("\r\n".utf8), in: pending[index...]) else { break loop }
                let line = String(decoding: pending[index..<lineEnd], as: UTF8.self)
                let sizeText = line.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                chunkRemaining = Int(sizeText, radix: 16) ?? 0
                index = lineEnd + 2
                chunkState = chunkRemaining == 0 ? .done : .data
            case .data:
                let take = min(chunkRemaining, pending.count - index)
                body += pending[index..<(index + take)]
                index += take
                chunkRemaining -= take
                if chunkRemaining == 0 { chunkState = .dataEnd }
            case .dataEnd:
                guard pending.count - index >= 2 else { break loop }
                index += 2
                chunkState = .size
            case .done:
                index = pending.count  // trailers: ignored
            }
        }
        pending.removeFirst(index)
    }

    /// The index (in `haystack`'s own indices) where `needle` starts.
    private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var start = haystack.startIndex
        while start <= haystack.endIndex - needle.count {
            if haystack[start] == needle[0] && haystack[start..<(start + needle.count)].elementsEqual(needle) { return start }
            start += 1
        }
        return nil
    }

    // MARK: the response

    /// The value of header `name` (case-insensitive), if present.
    func header(_ name: String) -> String? {
        headers.last(where: { $0.name.lowercased() == name.lowercased() })?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as JSON.
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body)) }

    /// `error.code` of the API's error shape.
    var errorCode: String? { ((json as? [String: Any])?["error"] as? [String: Any])?["code"] as? String }

    /// The complete Server-Sent Events frames received so far.
    var frames: [SSEFrameRecord] { SSEFrameRecord.parse(text) }

    /// The events (frames with an `id:`) received so far.
    var events: [SSEFrameRecord] { frames.filter { $0.id != nil } }
}

/// One Server-Sent Events frame as the client saw it.
struct SSEFrameRecord: Equatable, CustomStringConvertible {
    /// The seq of `id: <seq>.<incarnation>`.
    var id: Int64?
    /// The incarnation of `id: <seq>.<incarnation>`; not part of `==`, so a test can compare a frame with
    /// `SSEFrameRecord(id:event:data:)` (the exact id bytes are pinned by the tests that compare raw text).
    var incarnation: String?
    var event: String?
    var data: String?
    var retry: Int?
    var comment: String?

    /// The complete frames (each ended by a blank line) of `text`; a trailing partial frame is ignored.
    static func parse(_ text: String) -> [SSEFrameRecord] {
        var frames: [SSEFrameRecord] = []
        var parts = text.components(separatedBy: "\n\n")
        parts.removeLast()  // after the last separator: incomplete (or empty)
        for part in parts {
            var frame = SSEFrameRecord()
            for line in part.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(":") {
                    frame.comment = line.dropFirst().trimmingCharacters(in: .whitespaces)
                } else if line.hasPrefix("id: ") {
                    let id = line.dropFirst(4).split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
                    frame.id = Int64(id[0])
                    frame.incarnation = id.count == 2 ? String(id[1]) : nil
                } else if line.hasPrefix("event: ") {
                    frame.event = String(line.dropFirst(7))
                } else if line.hasPrefix("data: ") {
                    frame.data = String(line.dropFirst(6))
                } else if line.hasPrefix("retry: ") {
                    frame.retry = Int(line.dropFirst(7))
                }
            }
            frames.append(frame)
        }
        return frames
    }

    static func == (lhs: SSEFrameRecord, rhs: SSEFrameRecord) -> Bool {
        (lhs.id, lhs.event, lhs.data, lhs.retry, lhs.comment) == (rhs.id, rhs.event, rhs.data, rhs.retry, rhs.comment)
    }

    /// The `Last-Event-ID` a client sends back after this frame.
    var lastEventID: String? { id.map { "\($0)" + (incarnation.map { ".\($0)" } ?? "") } }

    var description: String {
        if let comment { return ": \(comment)" }
        if let retry { return "retry: \(retry)" }
        return "id: \(id.map(String.init) ?? "-") event: \(event ?? "-") data: \(data ?? "-")"
    }
}
