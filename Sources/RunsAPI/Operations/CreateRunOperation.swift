import RunJournal

/// `POST /v1/runs` — body optional `{"id"?: "...", "metadata"?: {...}}` → 201 with the run.
/// Existing id → 409, malformed id → 400. With `Idempotency-Key`, a retry with the same key and body answers
/// the original 201 and the same run (also when the id was generated); the same key with another body is 422.
struct CreateRunOperation {
    let context: RunsContext

    func handle(_ request: HTTPRequest) throws -> HTTPResponse {
        let idempotency = try IdempotencyHeader.record(request)
        var id: RunID?
        var metadata: [UInt8]?
        if !request.body.allSatisfy(isJSONWhitespace) {
            guard request.mediaType == "application/json" else {
                return .error(415, code: "unsupported_media_type", message: "a run body must be application/json")
            }
            let body = try JSONCompactor.compact(request.body)
            guard body.first == UInt8(ascii: "{") else {
                return APIError.badRequest("invalid_json", "expected an object {\"id\"?:…,\"metadata\"?:{…}}")
            }
            for member in try JSONObjectReader.members(of: body[...]) {
                switch member.key {
                case "id":
                    guard member.value.first == UInt8(ascii: "\"") else {
                        return APIError.badRequest("invalid_run_id", "id must be a string")
                    }
                    id = try RunID(try JSONObjectReader.decodeString(member.value))
                case "metadata":
                    guard member.value.first == UInt8(ascii: "{") else {
                        return APIError.badRequest("invalid_json", "metadata must be a JSON object")
                    }
                    metadata = Array(member.value)
                default:
                    return APIError.badRequest("invalid_json", "unknown key \"\(member.key)\" (allowed: id, metadata)")
                }
            }
        }
        let result = try context.store.create(id: id, metadata: metadata, idempotency: idempotency)
        let summary = result.summary
        _ = context.silence.observe(summary)  // the idle watchdog counts from now on both clocks
        var headers = [("Location", "/v1/runs/\(summary.id)"), ETag.header(lastSeq: summary.lastSeq)]
        if result.replayed { headers.append(("Idempotent-Replayed", "true")) }
        return .json(201, summary.json, extraHeaders: headers)
    }
}

func isJSONWhitespace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
}
