import RunJournal

/// `GET /v1/runs/:id` → 200 with the run (status derived from its journal) and `ETag: "<last_seq>"` | 404.
struct ShowRunOperation {
    let context: RunsContext

    func handle(_ request: HTTPRequest, id: String) throws -> HTTPResponse {
        let summary = try context.store.summary(of: try context.runID(id))
        return .json(200, summary.json, extraHeaders: [ETag.header(lastSeq: summary.lastSeq)])
    }
}
