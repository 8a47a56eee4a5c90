import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport
import RunsAPI
import Synchronization

// `.stream` responses: the head and replay on the worker, then the live phase parked on the stream loop.
extension FastCGIServer {
    /// Serves a `.stream` response: the head and the body's first part (the replay) on this worker, and then,
    /// when the body parks its live phase (`StreamParking`), the rest on the stream loop: this worker returns
    /// as soon as the connection is handed over. Reports the request when the stream is over. Returns what
    /// `serve` returns (false also when parked: the connection is no longer this worker's).
    func stream(
        _ response: HTTPResponse, _ produce: @Sendable (any ResponseBodyWriter) throws -> Void,
        on connection: FastCGIConnection, request: HTTPRequest, connectionID: UInt64, started: MonotonicTime
    ) -> Bool {
        guard reserveStream() else {
            let limit = configuration.maxStreams
            logger.warning("stream refused: at maxStreams", metadata: ["limit": "\(limit)", "path": "\(request.path)"])
            // The EventSource-friendly refusal: retry hint, a comment, the end.
            defer { report(request, status: 200, since: started) }
            return send(StreamLimitRefusal.response(retryAfterSeconds: configuration.retryAfterSeconds), on: connection, method: "GET")
        }
        var parked = false
        defer {
            if !parked {
                releaseStreamSlot()
                report(request, status: response.status, since: started)
            }
        }

        let head = ResponseHead.serialize(
            status: response.status, headers: response.headers, contentLength: nil,
            dropped: { [logger] name in logger.warning("dropped an invalid response header", metadata: ["name": "\(name)"]) })
        // Flush the head at once: the client (an EventSource) is "open" only when it has the headers.
        guard connection.write(head), connection.flush() else { return false }

        // What the request log needs when a parked stream ends, and no more: a parked stream keeps this
        // closure for its whole life, and the request (headers, body) is not worth keeping that long.
        let (method, path, principal, status) = (request.method, request.path, request.principal, response.status)
        let writer = FastCGIBodyWriter(connection: connection, monitor: monitor) { [self] stream in
            park(stream, connection: connection, connectionID: connectionID) { [self] in
                releaseStreamSlot()
                report(method: method, path: path, status: status, since: started, principal: principal)
            }
        }
        defer { writer.end() }
        do {
            try produce(writer)
        } catch ResponseWriterError.clientGone {
            logger.debug("stream client went away", metadata: ["path": "\(request.path)"])
            return false
        } catch {
            logger.warning("stream ended with an error", metadata: ["path": "\(request.path)", "error": "\(error)"])
        }
        if writer.parked {
            parked = true
            return false
        }
        writer.end()
        return connection.completeResponse()
    }

    /// Hands a stream and its connection to the stream loop; `ended` is called once when the stream is over.
    /// The request body is drained first so a kept connection can carry the next request. False (nothing
    /// changed) when the connection is already broken.
    func park(
        _ stream: any ParkableStream, connection: FastCGIConnection, connectionID: UInt64, ended: @escaping @Sendable () -> Void
    ) -> Bool {
        let reusable = connection.drainBody(limit: configuration.maxBodyBytes + 65536)
        // The forced-stop registry lets go first: once the loop has it, the descriptor may be closed and reused.
        connectionsLock.withLock { _ = connections.removeValue(forKey: connectionID) }
        guard let detached = connection.detach(keepConnection: reusable) else {
            connectionsLock.withLock { connections[connectionID] = connection.connectionFD }
            return false
        }
        let adoption = StreamLoop.Adoption(
            fd: detached.fd, requestID: detached.requestID, keepConnection: detached.keepConnection, stream: stream,
            onEnd: { _ in ended() })
        if streamLoop.adopt(adoption) { return true }
        // The loop is stopping: end the response here, as the loop would have.
        stream.finish()
        var end = FastCGIRecords.endOfResponse(requestID: detached.requestID)
        _ = end.withUnsafeMutableBytes { write(detached.fd, $0.baseAddress, $0.count) }
        _ = close(detached.fd)
        ended()
        return true
    }

    func releaseStreamSlot() {
        // The last stream of a burst gone: give its buffers back to the kernel instead of keeping the peak.
        if activeStreams.subtract(1, ordering: .relaxed).newValue == 0 { runjournal_release_free_memory() }
    }
}
