import Foundation
import Testing
import RunsAPI
import FastCGIServer

/// The responder spoken to directly in FastCGI records, without a web server: over TCP (`--listen`), with
/// and without FCGI_KEEP_CONN, the way a web server other than the shipped ones might.
@Suite struct RawFastCGITests {
    @Test func servesSeveralRequestsOnOneKeptTCPConnection() async throws {
        try await ServerHarness.with(behind: nil, configure: { $0.listen = .tcp(host: "127.0.0.1", port: 0) },
                                     handler: ClosureHandler(echoResponse)) { harness in
            let port = try #require(harness.server.boundPort)
            let client = try RawFastCGIClient(port: port)
            for index in 0..<3 {
                let response = try client.request(uri: "/v1/runs/r\(index)?n=\(index)", body: Array("body \(index)".utf8), keepConnection: true)
                #expect(response.hasPrefix("Status: 200"), "\(response)")
                #expect(response.replacingOccurrences(of: "\\/", with: "/").contains(#""path":"/v1/runs/r\#(index)""#), "\(response)")
                #expect(response.contains("body \(index)"))
            }
            #expect(await pollUntil(timeout: .seconds(5)) {
                let statistics = harness.server.statistics
                return statistics.connectionsAccepted == 1 && statistics.requestsServed == 3 && statistics.keptConnections == 1
            })
            client.close()
            #expect(await pollUntil(timeout: .seconds(5)) { harness.server.statistics.keptConnections == 0 })
        }
    }

    @Test func closesTheConnectionAfterARequestWithoutKeepConn() async throws {
        try await ServerHarness.with(behind: nil, configure: { $0.listen = .tcp(host: "127.0.0.1", port: 0) },
                                     handler: ClosureHandler(echoResponse)) { harness in
            let port = try #require(harness.server.boundPort)
            let client = try RawFastCGIClient(port: port)
            defer { client.close() }
            let response = try client.request(uri: "/v1/runs/a", body: [], keepConnection: false)
            #expect(response.hasPrefix("Status: 200"))
            #expect(client.readsEndOfFile(within: .seconds(5)))
            #expect(harness.server.statistics.keptConnections == 0)
        }
    }
}

/// Just enough of the FastCGI protocol's client side: BEGIN_REQUEST, PARAMS, STDIN out; STDOUT and
/// END_REQUEST in.
final class RawFastCGIClient: @unchecked Sendable {  // one thread uses it at a time
    private let fd: Int32

    convenience init(unixPath: String, timeout: Duration = .seconds(10)) throws {
        guard let fd = UnixSocketProbe.connect(unixPath) else {
            throw ChildProcess.SpawnError(description: "cannot connect to \(unixPath)")
        }
        self.init(fd: fd, timeout: timeout)
    }

    convenience init(port: Int, timeout: Duration = .seconds(10)) throws {
        guard let fd = LoopbackPort.connect(port) else {
            throw ChildProcess.SpawnError(description: "cannot connect to 127.0.0.1:\(port)")
        }
        self.init(fd: fd, timeout: timeout)
    }

    /// Every read gives up after `timeout`, so a test never hangs on a server that does not answer.
    private init(fd: Int32, timeout: Duration) {
        self.fd = fd
        var value = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    func close() { Glibc.close(fd) }

    /// Sends one request and returns its stdout (the CGI response) once END_REQUEST arrived.
    func request(uri: String, body: [UInt8], keepConnection: Bool) throws -> String {
        var out: [UInt8] = []
        out += record(type: 1, content: [0, 1, keepConnection ? 1 : 0, 0, 0, 0, 0, 0])
        var params: [UInt8] = []
        for (name, value) in [("REQUEST_METHOD", "POST"), ("REQUEST_URI", uri), ("CONTENT_LENGTH", String(body.count)),
                              ("CONTENT_TYPE", "text/plain")] {
            params += [UInt8(name.utf8.count), UInt8(value.utf8.count)] + Array(name.utf8) + Array(value.utf8)
        }
        out += record(type: 4, content: params) + record(type: 4, content: [])
        if !body.isEmpty { out += record(type: 5, content: body) }
        out += record(type: 5, content: [])
        guard out.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == out.count else {
            throw ChildProcess.SpawnError(description: "short write")
        }
        var stdout: [UInt8] = []
        while true {
            let header = try read(count: 8)
            let contentLength = Int(header[4]) << 8 | Int(header[5])
            let content = try read(count: contentLength + Int(header[6]))
            switch header[1] {
            case 6: stdout += content.prefix(contentLength)
            case 3: return String(decoding: stdout, as: UTF8.self)
            default: continue
            }
        }
    }

    /// Sends a bodiless GET without waiting for its answer (for streams that stay open).
    func startRequest(uri: String, keepConnection: Bool) throws {
        var out: [UInt8] = record(type: 1, content: [0, 1, keepConnection ? 1 : 0, 0, 0, 0, 0, 0])
        var params: [UInt8] = []
        for (name, value) in [("REQUEST_METHOD", "GET"), ("REQUEST_URI", uri), ("CONTENT_LENGTH", "0")] {
            params += [UInt8(name.utf8.count), UInt8(value.utf8.count)] + Array(name.utf8) + Array(value.utf8)
        }
        out += record(type: 4, content: params) + record(type: 4, content: []) + record(type: 5, content: [])
        guard send(out) else { throw ChildProcess.SpawnError(description: "short write") }
    }

    /// Reads records until END_REQUEST and returns the stdout they carried, and every record's type in order.
    func readResponse() throws -> (stdout: String, types: [UInt8]) {
        var stdout: [UInt8] = []
        var types: [UInt8] = []
        while true {
            let header = try read(count: 8)
            let contentLength = Int(header[4]) << 8 | Int(header[5])
            let content = try read(count: contentLength + Int(header[6]))
            types.append(header[1])
            if header[1] == 6 { stdout += content.prefix(contentLength) }
            if header[1] == 3 { return (String(decoding: stdout, as: UTF8.self), types) }
        }
    }

    /// Reads and drops what arrives, up to `limit` bytes (waiting up to `timeout` for the first byte); the byte count.
    func drain(limit: Int, timeout: Duration) -> Int {
        var total = 0
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var wait = Int32(timeout.components.seconds * 1000)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while total < limit && poll(&poller, 1, wait) == 1 {
            let count = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count <= 0 { break }
            total += count
            wait = 50
        }
        return total
    }

    /// Whether the server closes the connection (read returns 0) within `timeout`.
    func readsEndOfFile(within timeout: Duration) -> Bool {
        var byte: UInt8 = 0
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let count = Glibc.read(fd, &byte, 1)
            if count == 0 { return true }
            if count < 0 && errno != EINTR && errno != EAGAIN { return true }
        }
        return false
    }

    /// Writes raw bytes (a partial record, for a client that stalls or trickles).
    func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
    }

    private func record(type: UInt8, content: [UInt8]) -> [UInt8] {
        [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xFF), 0, 0] + content
    }

    private func read(count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, count - got) }
            if n <= 0 { throw ChildProcess.SpawnError(description: "connection ended after \(got) of \(count) bytes") }
            got += n
        }
        return bytes
    }
}
