import RunJournal

/// `GET /v1/runs?status=&limit=&cursor=` → `{"runs":[...],"next_cursor":...}`, newest first.
/// `limit` 1…1000 (default 100); `cursor` is the `next_cursor` of the previous page.
struct ListRunsOperation {
    let context: RunsContext
    static let maxLimit = 1000

    func handle(_ request: HTTPRequest) throws -> HTTPResponse {
        var status: RunStatus?
        if let raw = request.queryValue("status") {
            guard let parsed = RunStatus(rawValue: raw) else {
                return APIError.badRequest(
                    "invalid_status", "status must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = parsed
        }
        var limit = 100
        if let raw = request.queryValue("limit") {
            guard raw.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let parsed = Int(raw),
                (1...Self.maxLimit).contains(parsed)
            else {
                return APIError.badRequest("invalid_limit", "limit must be an integer from 1 to \(Self.maxLimit)")
            }
            limit = parsed
        }
        var cursor: RunID?
        if let raw = request.queryValue("cursor") {
            guard let parsed = try? RunID(raw) else {
                return APIError.badRequest("invalid_cursor", "cursor must be a next_cursor value from a previous page")
            }
            cursor = parsed
        }
        // A token confined to a run pattern sees only those runs; the others are not even read.
        let allowed = request.allowedRuns
        let page = try context.catalog.list(
            status: status, limit: limit, after: cursor, including: allowed.map { pattern in { pattern.matches($0.rawValue) } })
        var body = JSONWriter(reservingCapacity: 256 * page.runs.count + 64)
        body.object {
            $0.key("runs")
            $0.array { writer in
                for run in page.runs { run.writeJSON(to: &writer) }
            }
            $0.key("next_cursor")
            if let next = page.nextCursor { $0.string(next) } else { $0.null() }
        }
        return .json(200, body.bytes)
    }
}
