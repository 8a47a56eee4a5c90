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
        // A token confined to a run pattern creates only inside it; a generated id gets the pattern's prefix.
        var generatedIDPrefix = RunID.standardPrefix
        if let allowed = request.allowedRuns {
            if let id, !allowed.matches(id.rawValue) {
                return .error(403, code: "forbidden", message: "this token is limited to runs \(allowed)")
            }
            switch allowed.generatedID {
            case .standard: break
            case .prefixed(let prefix): generatedIDPrefix = prefix
            case .exact(let only): if id == nil { id = try RunID(only) }
            case .impossible:
                if id == nil {
                    return APIError.badRequest(
                        "run_id_required", "this token's run prefix leaves no room for a generated id: give an id")
                }
            }
        }
        let result = try context.store.create(
            id: id, generatedIDPrefix: generatedIDPrefix, metadata: metadata, idempotency: idempotency)
        let summary = result.summary
        if let allowed = request.allowedRuns, !allowed.matches(summary.id.rawValue) {
            // Cannot happen (keys are bound per prefix); never hand out a run outside the pattern if it did.
            return .error(403, code: "forbidden", message: "this token is limited to runs \(allowed)")
        }
        _ = context.silence.observe(summary)  // the idle watchdog counts from now on both clocks
        var headers = [("Location", "/v1/runs/\(summary.id)"), ETag.header(lastSeq: summary.lastSeq)]
        if result.replayed { headers.append(("Idempotent-Replayed", "true")) }
        return .json(201, summary.json, extraHeaders: headers)
    }
}

func isJSONWhitespace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
}
