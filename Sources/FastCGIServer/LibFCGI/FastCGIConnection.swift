import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import RunJournal
import SystemSupport

/// The thin wrapper over libfcgi: the only code in the package that calls `FCGX_*`. One value is one
/// `FCGX_Request`: a slot that holds at most one connection and, on it, at most one request at a time. It
/// is owned by exactly one thread at a time (the acceptor until it is handed to a worker); libfcgi's
/// streams are not thread-safe, and this type does not make them so.
///
/// A connection outlives its request when the web server asks for it (nginx's `fastcgi_keep_conn on`
/// sets FCGI_KEEP_CONN): the worker that served the request then waits on the same connection for the
/// next one (`readNextRequest`), so a kept connection costs neither an accept nor a hand-off.
final class FastCGIConnection: @unchecked Sendable {
    private let raw: UnsafeMutablePointer<FCGX_Request>
    /// A request was accepted and `finishRequest` has not been called yet.
    private var hasRequest = false

    private static let initialized = LockedValue<Int32?>(nil)

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

    /// A slot holding a connection an acceptor accepted (`runjournal_accept`): its requests are read with
    /// `readNextRequest`, on the worker that serves them.
    init(acceptedFD: Int32) {
        raw = .allocate(capacity: 1)
        // No listening socket: when the connection ends, `FCGX_Accept_r` falls through to accept(2) on
        // the request's listening descriptor, which would make the calling worker an acceptor nobody
        // accounts for. On -1 that accept fails at once with EBADF, which is the "connection ended" answer.
        FCGX_InitRequest(raw, -1, 0)
        raw.pointee.ipcFd = acceptedFD
    }

    deinit {
        closeConnection()
        raw.deallocate()
    }

    /// Whether a connection is open: from the accept until libfcgi or `closeConnection` closes it, which
    /// `finishRequest` does unless the web server asked to keep the connection.
    var isConnectionOpen: Bool { raw.pointee.ipcFd >= 0 }

    /// Blocks until the next request on the connection arrives and its parameters are read: the first one
    /// after the accept, then each one the web server sends on a connection it keeps. False when the
    /// connection ended instead: the web server closed it, it sent something that is not a request, it
    /// stayed silent past `setIdleTimeout`, or a stop interrupted the wait. The connection is closed then.
    func readNextRequest() -> Bool {
        guard isConnectionOpen, !hasRequest else { return false }
        // FCGX_Accept_r starts with FCGX_Finish_r, which closes the connection unless keepConnection is
        // set: for a fresh connection it is not yet (the request's own flag replaces it once read).
        raw.pointee.keepConnection = 1
        hasRequest = FCGX_Accept_r(raw) == 0
        return hasRequest
    }

    /// The connection's descriptor (what the hang-up monitor watches and a forced stop shuts down).
    var connectionFD: Int32 { raw.pointee.ipcFd }

    /// The request's parameters that `RequestDecoder` reads, picked from libfcgi's `NAME=value` environment
    /// by `RequestDecoder.parameters(fromEnvironment:)`.
    func parameters() -> [String: [UInt8]] {
        guard var entry = raw.pointee.envp else { return [:] }
        var entries: [UnsafeRawBufferPointer] = []
        entries.reserveCapacity(32)
        while let pointer = entry.pointee {
            entry += 1
            entries.append(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
        }
        return RequestDecoder.parameters(fromEnvironment: entries)
    }

    /// What reading a request body came to.
    enum BodyRead {
        case body([UInt8])
        /// The connection failed.
        case failed
        /// `admit` refused to let the body grow (the server's body budget is spent).
        case refused
    }

    /// Reads up to `count` body bytes; fewer means end of body. `expected` (a declared Content-Length)
    /// sizes the buffer up front; otherwise it grows as bytes arrive, so a bodiless GET allocates nothing
    /// (a stream keeps its request, and with it this buffer, for its whole life). `admit` is asked for the
    /// buffer's new size before it grows past what was admitted (the declared length is admitted before the
    /// first read); on false reading stops.
    func readBody(upTo count: Int, expected: Int?, admit: (Int) -> Bool) -> BodyRead {
        guard let input = raw.pointee.`in` else { return .failed }
        var bytes: [UInt8] = []
        if let expected {
            guard admit(min(expected, count)) else { return .refused }
            bytes.reserveCapacity(min(expected, count))
        }
        let chunkSize = 8192
        var refused = false
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: chunkSize) { chunk in
            while bytes.count < count {
                let wanted = Int32(min(count - bytes.count, chunkSize))
                let read = FCGX_GetStr(chunk.baseAddress!, wanted, input)
                if read <= 0 { break }
                guard admit(bytes.count + Int(read)) else {
                    refused = true
                    break
                }
                chunk.withMemoryRebound(to: UInt8.self) { bytes.append(contentsOf: $0.prefix(Int(read))) }
            }
        }
        guard FCGX_GetError(input) == 0 else { return .failed }
        return refused ? .refused : .body(bytes)
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

    /// Ends the request: completes the response if that has not happened, then either keeps the
    /// connection for the web server's next request or closes it. It is kept only when the caller wants
    /// it (the response went out whole and `drainBody` succeeded), the web server asked for it, and no
    /// stream is in error.
    ///
    /// libfcgi's close shuts down the write side and waits (up to LIBFCGI_OS_CLOSE_POLL_TIMEOUT, 2 s by
    /// default) for the peer to close, so this runs after `completeResponse`, on the worker, off the
    /// response's critical path.
    func finishRequest(keepConnection wanted: Bool) {
        guard hasRequest else { return }
        hasRequest = false
        if !wanted { raw.pointee.keepConnection = 0 }
        FCGX_Finish_r(raw)
    }

    /// Gives a kept connection's reads a deadline: a worker parked on a connection its peer abandoned
    /// without closing it (a TCP peer that vanished, a client that asked to keep the connection and went
    /// quiet) gets EAGAIN after `timeout` and closes it, instead of holding its thread for ever. It bounds
    /// every read on the connection, a request body's included; the worker sets a short one for the first
    /// request and the kept-connection timeout once that request has arrived.
    func setIdleTimeout(_ timeout: Duration) {
        let fd = raw.pointee.ipcFd
        guard fd >= 0 else { return }
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// For the 503 an acceptor answers when no worker can be had: waits at most `timeout` for the request
    /// to start arriving, then reads it only as far as it has already arrived (non-blocking), so a client
    /// that stalls or trickles its request holds the acceptor for `timeout` at most. False (and the
    /// connection closed) when the request is not there in time.
    func readArrivedRequest(waitingAtMost timeout: Duration) -> Bool {
        let fd = raw.pointee.ipcFd
        guard fd >= 0, !hasRequest else { return false }
        var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard Glibc.poll(&poll, 1, milliseconds) == 1, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else {
            closeConnection()
            return false
        }
        // Detached: libfcgi closes without shutting down and waiting for the peer (its close would
        // otherwise linger up to 2 s on a client that keeps sending).
        raw.pointee.detached = 1
        return readNextRequest()
    }

    /// What a worker hands to the stream loop: the connection, and the request it is in the middle of.
    struct Detached {
        let fd: Int32
        let requestID: UInt16
        let keepConnection: Bool
    }

    /// Takes the connection away from libfcgi in the middle of a response, for the stream loop to carry on
    /// with (`StreamLoop` writes the remaining FastCGI records itself). Everything libfcgi buffered is flushed
    /// first; its streams and parameters are freed without ending the request (no END_REQUEST) and without
    /// closing the descriptor, and this slot forgets the connection. `keepConnection`: the caller drained the
    /// request body, so the connection may carry the web server's next request. Nil when the flush failed
    /// (the connection is broken; nothing changed).
    func detach(keepConnection: Bool) -> Detached? {
        guard hasRequest, let output = raw.pointee.out, raw.pointee.ipcFd >= 0 else { return nil }
        _ = FCGX_FFlush(output)
        guard FCGX_GetError(output) == 0 else { return nil }
        let detached = Detached(
            fd: raw.pointee.ipcFd, requestID: UInt16(truncatingIfNeeded: raw.pointee.requestId),
            keepConnection: keepConnection && raw.pointee.keepConnection != 0)
        FCGX_Free(raw, 0)
        raw.pointee.ipcFd = -1
        hasRequest = false
        return detached
    }

    /// Closes the connection without waiting for the peer: for a kept connection that carries no request
    /// (the web server gets EOF and drops it from its cache), or after a request that must not be kept.
    func closeConnection() {
        if hasRequest {
            raw.pointee.detached = 1  // no linger: libfcgi's close would wait up to 2 s for the peer
            finishRequest(keepConnection: false)
        }
        let fd = raw.pointee.ipcFd
        if fd >= 0 {
            _ = close(fd)
            raw.pointee.ipcFd = -1
        }
    }

    /// Reads the request body to its end (the empty FCGI_STDIN record), discarding what the request did
    /// not read. True if the end was reached within `limit` bytes and the stream is not in error. Needed
    /// before a connection is kept: body records left on it would be taken for the next request's, and
    /// libfcgi would drop the connection with that request on it.
    func drainBody(limit: Int) -> Bool {
        guard hasRequest, raw.pointee.keepConnection != 0 else { return false }
        guard let input = raw.pointee.`in` else { return false }
        var discarded = 0
        let chunkSize = 8192
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: chunkSize) { chunk in
            while FCGX_HasSeenEOF(input) == 0 && FCGX_GetError(input) == 0 && discarded <= limit {
                let read = FCGX_GetStr(chunk.baseAddress!, Int32(chunkSize), input)
                if read <= 0 { break }
                discarded += Int(read)
            }
        }
        if discarded > limit { return false }
        return FCGX_HasSeenEOF(input) != 0 && FCGX_GetError(input) == 0
    }
}
