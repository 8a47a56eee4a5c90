import RunJournal
/// What an API operation answers: a status, headers, and either a complete body or a streaming body that
/// the transport runs on the request's own thread.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header lines in order (`Content-Type` included; the transport adds `Status`).
    public var headers: [(name: String, value: String)]
    public var body: Body

    public enum Body: Sendable {
        /// A complete body, sent at once.
        case bytes([UInt8])
        /// A body produced over time: the closure writes and flushes until it returns or a write throws
        /// `ResponseWriterError.clientGone`. It blocks its thread for the whole stream.
        case stream(@Sendable (any ResponseBodyWriter) throws -> Void)
    }

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response; `json` must already be valid compact JSON.
    public static func json(_ status: Int, _ json: [UInt8], extraHeaders: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + extraHeaders, body: .bytes(json + [0x0A]))
    }

    /// The one error shape of the API: `{"error":{"code":"...","message":"..."}}`.
    public static func error(
        _ status: Int, code: String, message: String, extraHeaders: [(name: String, value: String)] = []
    ) -> HTTPResponse {
        var body = JSONWriter()
        body.object {
            $0.key("error")
            $0.object {
                $0.key("code"); $0.string(code)
                $0.key("message"); $0.string(message)
            }
        }
        return .json(status, body.bytes, extraHeaders: extraHeaders)
    }

    /// The value of header `name` (case-insensitive), if set.
    public func header(_ name: String) -> String? {
        headers.first(where: { $0.name.lowercased() == name.lowercased() })?.value
    }
}

/// The standard reason phrase for the statuses this API uses (FastCGI `Status:` lines carry one).
public func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 200: return "OK"
    case 201: return "Created"
    case 202: return "Accepted"
    case 204: return "No Content"
    case 400: return "Bad Request"
    case 401: return "Unauthorized"
    case 403: return "Forbidden"
    case 404: return "Not Found"
    case 405: return "Method Not Allowed"
    case 409: return "Conflict"
    case 413: return "Payload Too Large"
    case 412: return "Precondition Failed"
    case 415: return "Unsupported Media Type"
    case 422: return "Unprocessable Content"
    case 500: return "Internal Server Error"
    case 503: return "Service Unavailable"
    case 507: return "Insufficient Storage"
    default: return "Status \(status)"
    }
}
