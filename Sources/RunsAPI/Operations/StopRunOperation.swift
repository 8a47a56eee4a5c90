import RunJournal

/// `POST /v1/runs/:id/stop` → 202 with the run (`stop_requested: true`, status still queued or running).
/// Appends `run.stop_requested` once; idempotent. A terminal run → 409 naming its status.
struct StopRunOperation {
    let context: RunsContext

    func handle(_ request: HTTPRequest, id: String) throws -> HTTPResponse {
        let summary = try context.store.requestStop(try context.runID(id))
        // This responder saw the request being made: stop grace counts from now on both clocks.
        _ = context.silence.observe(summary)
        return .json(202, summary.json)
    }
}
