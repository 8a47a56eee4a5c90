import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The thin wrapper over libfcgi: the only code in the package that calls `FCGX_*`. One value is one
/// request on one connection, owned by exactly one thread at a time (the acceptor until it is handed to a
/// worker). libfcgi's streams are not thread-safe, and this type does not make them so.
final class FastCGIConnection: @unchecked Sendable {
    private let raw: UnsafeMutablePointer<FCGX_Request>
    private var finished = false

    private static let initialized = Mutex<Int32?>(nil)

    /// `FCGX_Init` once per process. SIGPIPE is ignored first: libfcgi installs its own no-op handler
    /// only when the disposition is still the default, and either way a write to a closed connection
    /// must come back as EPIPE (reported as `ResponseWriterError.clientGone`), never kill the process.
    static func initializeLibrary() throws(FastCGIServerError) {
        let status: Int32 = initialized.withLock { state in
            if let state { return state }
            _ = runjournal_ignore_signal(SIGPIPE)
            let status = FCGX_Init()
            state = status
            return status
        }
        guard status == 0 else {
            throw FastCGIServerError(.libraryInitFailed, "FCGX_Init failed with \(status)")
        }
    }

    /// A request slot that will accept on `listenFD`.
    init(listenFD: Int32) {
        raw = .allocate(capacity: 1)
        // FCGI_FAIL_ACCEPT_ON_INTR: accept(2) interrupted by the stop wake-up signal returns -EINTR to
        // the acceptor instead of being retried inside libfcgi forever.
        FCGX_InitRequest(raw, listenFD, FCGI_FAIL_ACCEPT_ON_INTR)
    }

    deinit {
        if !finished { FCGX_Finish_r(raw) }
        raw.deallocate()
    }

    /// Blocks until a connection is accepted and its parameters are read. On failure returns the
    /// (positive) errno, or a libfcgi code (-9998 not initialised, -9999 unknown) as is.
    func accept() -> Int32 {
        let status = FCGX_Accept_r(raw)
        return status < 0 ? -status : 0
    }

    /// The connection's descriptor (what the hang-up monitor watches and a forced stop shuts down).
    var connectionFD: Int32 { raw.pointee.ipcFd }

    /// The request's parameters, first occurrence of each name winning (as `FCGX_GetParam` would):
    /// nginx's stock fastcgi_params sets HTTP_HOST itself and the Host header repeats it.
    func parameters() -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        guard var entry = raw.pointee.envp else { return result }
        while let pointer = entry.pointee {
            let length = strlen(pointer)
            let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
            if let equals = bytes.firstIndex(of: UInt8(ascii: "=")) {
                let name = String(decoding: bytes[..<equals], as: UTF8.self)
                if result[name] == nil {
                    result[name] = Array(bytes[(equals + 1)...])
                }
            }
            entry += 1
        }
        return result
    }

    /// Reads up to `count` body bytes; fewer means end of body. Nil if the connection failed.
    /// `expected` (a declared Content-Length) sizes the buffer up front; otherwise it grows as bytes
    /// arrive, so a bodiless GET allocates nothing (a stream keeps its request, and with it this buffer,
    /// for its whole life).
    func readBody(upTo count: Int, expected: Int?) -> [UInt8]? {
        guard let input = raw.pointee.`in` else { return nil }
        var bytes: [UInt8] = []
        if let expected { bytes.reserveCapacity(min(expected, count)) }
        let chunkSize = 8192
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: chunkSize) { chunk in
            while bytes.count < count {
                let wanted = Int32(min(count - bytes.count, chunkSize))
                let read = FCGX_GetStr(chunk.baseAddress!, wanted, input)
                if read <= 0 { break }
                chunk.withMemoryRebound(to: UInt8.self) { bytes.append(contentsOf: $0.prefix(Int(read))) }
            }
        }
        guard FCGX_GetError(input) == 0 else { return nil }
        return bytes
    }

    /// Buffers `bytes` for the client. False once the connection failed.
    func write(_ bytes: [UInt8]) -> Bool {
        guard let output = raw.pointee.out else { return false }
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 20)
            let written = bytes.withUnsafeBytes { buffer in
                FCGX_PutStr(buffer.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), Int32(chunk), output)
            }
            if written != Int32(chunk) { return false }
            offset += chunk
        }
        return FCGX_GetError(output) == 0
    }

    /// Sends everything buffered. `FCGX_FFlush` returns 0 on a stream already in error, so the stream's
    /// error state is what decides.
    func flush() -> Bool {
        guard let output = raw.pointee.out else { return false }
        _ = FCGX_FFlush(output)
        return FCGX_GetError(output) == 0
    }

    /// Ends the response: closes stderr and stdout, which writes FCGI_END_REQUEST and flushes. The web
    /// server has the complete response after this; only the connection teardown (`finish`) remains.
    @discardableResult
    func completeResponse() -> Bool {
        guard let output = raw.pointee.out else { return false }
        if let errors = raw.pointee.err { _ = FCGX_FClose(errors) }
        return FCGX_FClose(output) == 0
    }

    /// Releases the request and closes the connection. libfcgi's close shuts down the write side and
    /// waits (up to LIBFCGI_OS_CLOSE_POLL_TIMEOUT, 2 s by default) for the peer to close, so it runs
    /// after `completeResponse`, on the worker, off the response's critical path. A web server that asked
    /// for FCGI_KEEP_CONN gets its connection closed anyway: this responder serves one request per
    /// connection (a kept connection would pin an idle worker thread).
    func finish() {
        guard !finished else { return }
        finished = true
        FCGX_Finish_r(raw)
        let kept = raw.pointee.ipcFd
        if kept >= 0 {
            _ = close(kept)
            raw.pointee.ipcFd = -1
        }
    }
}
