import RunJournal

/// `GET /v1/runs/:id/events` — the Server-Sent Events stream of a run: replay after the resume point, then
/// live until the run ends or its journal disappears. The contract of the Rubino agent's
/// `Runs::EventsOperation`, with its known defects fixed (see `EventStream`).
///
/// Answers before any stream header: 404 for an unknown run, 400 for a resume point that is not a
/// non-negative 64-bit integer (never a silent full replay), 204 when the client resumes at or after the
/// terminal event (the answer that makes `EventSource` stop reconnecting).
struct EventsOperation {
    let context: RunsContext

    func handle(_ request: HTTPRequest, id: String) throws -> HTTPResponse {
        let runID = try context.runID(id)
        let resumeAfter: Int64
        switch ResumePoint.parse(header: request.header("last-event-id"), query: request.queryValue("last_event_id")) {
        case .success(let value): resumeAfter = value
        case .failure(let message): return .error(400, code: "invalid_last_event_id", message: message)
        }
        // Open before reading the summary: if the journal is deleted in between, the stream still replays
        // what it opened and then ends on "gone", instead of racing a 404.
        let journal = try context.store.openReader(runID)
        // Durable before visible, decided before any header: the replay sends only what this size covers, and
        // a failing sync is a 503 here, not a broken stream.
        let visible = try context.store.visibleSize(of: journal, id: runID, sync: context.configuration.syncBeforeVisible)
        let summary = try context.store.summary(of: runID)
        if summary.status.isTerminal && resumeAfter >= summary.lastSeq {
            return HTTPResponse(status: 204)
        }
        let stream = EventStream(
            context: context, runID: runID, journal: journal, summary: summary, resumeAfter: resumeAfter,
            replayLimit: visible.size, journalFailed: visible.failed)
        return HTTPResponse(
            status: 200,
            headers: [
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-cache"),
                ("X-Accel-Buffering", "no"),
            ],
            body: .stream { writer in try stream.run(writer: writer) })
    }
}

/// The resume point: `Last-Event-ID`, else `?last_event_id=`, else 0.
enum ResumePoint {
    enum Parsed: Equatable {
        case success(Int64)
        case failure(String)
    }

    static func parse(header: String?, query: String?) -> Parsed {
        let (source, raw): (String, String)
        if let header { (source, raw) = ("Last-Event-ID", header) } else if let query { (source, raw) = ("last_event_id", query) } else {
            return .success(0)
        }
        let text = raw.trimmingWhitespace()
        // Digits only (no sign, no spaces inside), and it must fit in 64 bits.
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let value = UInt64(text)
        else {
            return .failure("\(source) must be a non-negative integer that fits in 64 bits (got \"\(raw.prefix(40))\")")
        }
        // Beyond any possible seq: just wait (seqs are Int64).
        return .success(Int64(clamping: value))
    }
}
