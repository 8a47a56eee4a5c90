import RunJournal

/// `POST /v1/runs/:id/events` — `application/json` `{"type":"…","data":…}` or `application/x-ndjson` lines of
/// those (one batch: one write, all or nothing) → 201 `{"first_seq":N,"last_seq":M}`.
/// After a terminal event → 409; `run.created` / `run.stop_requested` → 422; bad type or JSON → 400 saying
/// where; other content types → 415; unknown run → 404.
struct AppendEventsOperation {
    let context: RunsContext

    func handle(_ request: HTTPRequest, id: String) throws -> HTTPResponse {
        let runID = try context.runID(id)
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
        let seqs = try context.store.append(runID, events)
        var body = JSONWriter()
        body.object {
            $0.key("first_seq"); $0.int(seqs.lowerBound)
            $0.key("last_seq"); $0.int(seqs.upperBound)
        }
        return .json(201, body.bytes)
    }
}
