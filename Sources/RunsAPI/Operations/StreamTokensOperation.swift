import RunJournal

/// `POST /v1/runs/:id/stream-tokens?ttl=<seconds>` → 200 `{"token":"…","expires_at":"…"}`: a stream token for
/// `GET /v1/runs/:id/events?access_token=`, for clients that cannot send headers (a browser's `EventSource`).
/// The gate has already checked the read scope on this run. `ttl` 1…86400 (default 600); 404 for an
/// unknown run. See `StreamTokenSigner` for the token itself.
struct StreamTokensOperation {
    let context: RunsContext
    let signer: StreamTokenSigner

    func handle(_ request: HTTPRequest, id: String) throws -> HTTPResponse {
        let runID = try context.runID(id)
        var ttl = StreamTokenSigner.defaultTTLSeconds
        if let raw = request.queryValue("ttl") {
            guard !raw.isEmpty, raw.utf8.count <= 6, raw.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let parsed = Int(raw), (1...StreamTokenSigner.maximumTTLSeconds).contains(parsed)
            else {
                return APIError.badRequest(
                    "invalid_ttl", "ttl must be a whole number of seconds from 1 to \(StreamTokenSigner.maximumTTLSeconds)")
            }
            ttl = parsed
        }
        let summary = try context.store.summary(of: runID)
        let incarnation = String(decoding: EventID.incarnation(createdAtMillis: summary.createdAtMillis), as: UTF8.self)
        let expires = context.clock.nowMillis() / 1000 + Int64(ttl)
        let token = signer.mint(runID: runID.rawValue, incarnation: incarnation, expiresAtSeconds: expires)
        var body = JSONWriter()
        body.object {
            $0.key("token"); $0.string(token)
            $0.key("expires_at"); $0.string(Timestamp.format(millis: expires * 1000))
        }
        return .json(200, body.bytes, extraHeaders: [("Cache-Control", "no-store")])
    }
}
