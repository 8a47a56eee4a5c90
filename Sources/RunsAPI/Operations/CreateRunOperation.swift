import RunJournal

/// `POST /v1/runs` — body optional `{"id"?: "...", "metadata"?: {...}}` → 201 with the run.
/// Existing id → 409, malformed id → 400.
struct CreateRunOperation {
    let context: RunsContext

    func handle(_ request: HTTPRequest) throws -> HTTPResponse {
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
        let summary = try context.store.create(id: id, metadata: metadata)
        _ = context.silence.observe(summary)  // the idle watchdog counts from now on both clocks
        return .json(201, summary.json, extraHeaders: [("Location", "/v1/runs/\(summary.id)")])
    }
}

func isJSONWhitespace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
}
