import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport
import RunsAPI
import Synchronization

// Serving one request: decoding, the body and its budget, the handler, and complete responses.
extension FastCGIServer {
    /// Serves one request and completes its response. Returns whether the connection may carry another
    /// request: false when the response could not be delivered whole.
    func serve(_ connection: FastCGIConnection, connectionID: UInt64) -> Bool {
        let started = MonotonicTime.now()
        let head: RequestDecoder.Head
        switch RequestDecoder.decodeHead(connection.parameters()) {
        case .success(let decoded): head = decoded
        case .failure(let rejection):
            report(method: "-", path: "", status: rejection.response.status, since: started)
            return send(rejection.response, on: connection, method: "GET")
        }
        /// Answers a request refused before the handler, and reports it.
        func refuseBeforeHandler(_ response: HTTPResponse) -> Bool {
            report(method: head.method, path: head.path, status: response.status, since: started)
            return send(response, on: connection, method: head.method)
        }

        let limit = configuration.maxBodyBytes
        if let declared = head.declaredLength, declared > limit {
            return refuseBeforeHandler(tooLarge())
        }
        // Bodies in flight are bounded as a whole too (see BodyBudget); the reservation lasts until the
        // response is done.
        let reservation = BodyBudget.Reservation(bodyBudget)
        defer { reservation.release() }
        // Without a declared length read one byte past the limit: that byte is the proof it is too large.
        let body: [UInt8]
        switch connection.readBody(upTo: head.declaredLength ?? (limit + 1), expected: head.declaredLength, admit: reservation.grow(to:)) {
        case .body(let bytes):
            body = bytes
        case .failed:
            logger.debug("connection failed while reading the request body", metadata: ["path": "\(head.path)"])
            return false
        case .refused:
            logger.warning("request refused: request bodies in flight at the body budget", metadata: [
                "budget": "\(bodyBudget.limit)", "declared": "\(head.declaredLength.map(String.init) ?? "none")",
            ])
            return send(.error(
                503, code: "server_busy",
                message: "the server is holding its maximum of \(bodyBudget.limit) bytes of request bodies; retry later",
                extraHeaders: [("Retry-After", String(configuration.retryAfterSeconds))]), on: connection, method: head.method)
        }
        if body.count > limit {
            return refuseBeforeHandler(tooLarge())
        }
        if let declared = head.declaredLength, body.count < declared {
            return refuseBeforeHandler(RequestDecoder.badRequest("the request body ended after \(body.count) of \(declared) bytes"))
        }

        let request = HTTPRequest(method: head.method, path: head.path, query: head.queryPairs, headers: head.headers, body: body)
        let response = handler.handle(request)
        switch response.body {
        case .bytes:
            defer { report(request, status: response.status, since: started) }
            return send(response, on: connection, method: head.method)
        case .stream(let produce):
            return stream(response, produce, on: connection, request: request, connectionID: connectionID, started: started)
        }
    }

    func report(_ request: HTTPRequest, status: Int, since started: MonotonicTime) {
        report(method: request.method, path: request.path, status: status, since: started, principal: request.principal)
    }

    func report(method: String, path: String, status: Int, since started: MonotonicTime, principal: String? = nil) {
        guard let observer else { return }
        let duration = Duration.nanoseconds(MonotonicTime.now().nanoseconds - started.nanoseconds)
        observer.requestCompleted(
            CompletedRequest(method: method, path: path, status: status, duration: duration, principal: principal))
    }

    func tooLarge() -> HTTPResponse {
        .error(413, code: "payload_too_large", message: "the request body exceeds the limit of \(configuration.maxBodyBytes) bytes")
    }

    /// Writes a complete response and ends it; true if it was delivered to the web server whole.
    @discardableResult
    func send(_ response: HTTPResponse, on connection: FastCGIConnection, method: String) -> Bool {
        var bytes: [UInt8] = []
        if case .bytes(let body) = response.body { bytes = body }
        let hasBody = ResponseHead.allowsBody(response.status)
        var output = ResponseHead.serialize(
            status: response.status, headers: response.headers, contentLength: hasBody ? bytes.count : nil,
            dropped: { [logger] name in logger.warning("dropped an invalid response header", metadata: ["name": "\(name)"]) })
        if hasBody && method != "HEAD" { output += bytes }
        guard connection.write(output), connection.completeResponse() else {
            logger.debug("client went away before the response was delivered", metadata: ["status": "\(response.status)"])
            return false
        }
        return true
    }
}
