import RunJournal

/// `POST /v1/runs/:id/events` — `application/json` `{"type":"…","data":…}` or `application/x-ndjson` lines of
/// those (one batch: one write, all or nothing) → 201 `{"first_seq":N,"last_seq":M}`.
/// After a terminal event → 409; `run.created` / `run.stop_requested` → 422; bad type or JSON → 400 saying
/// where; other content types → 415; unknown run → 404; a failed journal → 507/503 `journal_failed`.
///
/// `Idempotency-Key` makes a retry safe: the same key and body answer the original 201 (same seqs) and append
/// nothing; the same key with another body is 422. `If-Match: "<n>"` appends only if the run's last seq is n
/// (else 412 with the current `last_seq`). Every 201 carries `ETag: "<last_seq>"`.
struct AppendEventsOperation {
    let context: RunsContext

    func handle(_ request: HTTPRequest, id: String) throws -> HTTPResponse {
        let runID = try context.runID(id)
        var conditions = AppendConditions(idempotency: try IdempotencyHeader.record(request))
        switch ETag.condition(request) {
        case .none: break
        case .lastSeq(let expected): conditions.expectedLastSeq = expected
        case .invalid: return ETag.invalidResponse
        }
        let events: [NewEvent]
        switch request.mediaType {
        case "application/json":
            events = [try EventInput.event(fromJSON: request.body)]
        case "application/x-ndjson", "application/jsonl", "application/jsonlines":
            events = try EventInput.events(fromNDJSON: request.body)
        default:
            return .error(
                415, code: "unsupported_media_type",
                message: "events must be application/json or application/x-ndjson (got \(request.header("content-type") ?? "none"))")
        }
        let result = try context.store.append(runID, events, conditions: conditions)
        var body = JSONWriter()
        body.object {
            $0.key("first_seq"); $0.int(result.seqs.lowerBound)
            $0.key("last_seq"); $0.int(result.seqs.upperBound)
        }
        var headers = [ETag.header(lastSeq: result.seqs.upperBound)]
        if result.replayed { headers.append(("Idempotent-Replayed", "true")) }
        return .json(201, body.bytes, extraHeaders: headers)
    }
}
