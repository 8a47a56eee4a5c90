import RunJournal

/// `ETag: "<last_seq>"`: a run's version for optimistic concurrency. `GET /v1/runs/:id` and every append
/// answer it; an append with `If-Match: "<n>"` is made only if the run's last seq is still `n` (decided under
/// the journal lock), the primitive S2 and Kafka offer for "append only if nobody else did".
enum ETag {
    static func header(lastSeq: Int64) -> (name: String, value: String) { ("ETag", "\"\(lastSeq)\"") }

    /// What `If-Match` asks for.
    enum Condition: Equatable {
        /// No header, or `*`: no condition.
        case none
        case lastSeq(Int64)
        case invalid
    }

    /// Parses `If-Match`: `"<n>"` (or `W/"<n>"`) asks for last seq n; `*` or no header asks nothing.
    static func condition(_ request: HTTPRequest) -> Condition {
        guard let raw = request.header("if-match")?.trimmingWhitespace(), raw != "*" else { return .none }
        var text = Substring(raw)
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        let digits = text.dropFirst().dropLast()
        guard text.count >= 3, text.first == "\"", text.last == "\"",
            digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int64(digits)
        else { return .invalid }
        return .lastSeq(value)
    }

    static let invalidResponse = HTTPResponse.error(
        400, code: "invalid_if_match", message: "If-Match must be \"<last_seq>\" (an ETag of this API) or *")
}

/// `Idempotency-Key`: 1–128 printable ASCII characters naming one logical request, so a retry (after a timeout,
/// a 503 during a restart) is answered with the original result instead of appending twice.
enum IdempotencyHeader {
    static func record(_ request: HTTPRequest) throws -> IdempotencyRecord? {
        guard let key = request.header("idempotency-key") else { return nil }
        return try IdempotencyRecord(key: key, body: request.body)
    }
}
