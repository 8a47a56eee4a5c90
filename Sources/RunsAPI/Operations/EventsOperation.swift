import RunJournal

/// `GET /v1/runs/:id/events` — the Server-Sent Events stream of a run: replay after the resume point, then
/// live until the run ends or its journal disappears. The contract of the Rubino agent's
/// `Runs::EventsOperation`, with its known defects fixed (see `EventStream`).
///
/// Answers before any stream header: 404 for an unknown run, 400 for a resume point that is not an event id
/// (never a silent full replay), 204 when the client resumes at or after the terminal event (the answer that
/// makes `EventSource` stop reconnecting), 400 for a `format` other than `events` or `lines` (`StreamFormat`).
/// Event ids are `<seq>.<incarnation>` (`EventID`).
struct EventsOperation {
    let context: RunsContext

    func handle(_ request: HTTPRequest, id: String) throws -> HTTPResponse {
        let runID = try context.runID(id)
        guard let format = StreamFormat.parse(request.queryValue("format")) else {
            return .error(400, code: "invalid_format", message: "format must be events (the default) or lines")
        }
        let resumePoint: EventID.ResumePoint
        switch ResumePoint.parse(header: request.header("last-event-id"), query: request.queryValue("last_event_id")) {
        case .success(let value): resumePoint = value
        case .failure(let message): return .error(400, code: "invalid_last_event_id", message: message)
        }
        // Open before reading the summary: if the journal is deleted in between, the stream still replays
        // what it opened and then ends on "gone", instead of racing a 404.
        let journal = try context.store.openReader(runID)
        // Durable before visible, decided before any header: the replay sends only what this size covers, and
        // a failing sync is a 503 here, not a broken stream.
        let visible = try context.store.visibleSize(of: journal, id: runID, sync: context.configuration.syncBeforeVisible)
        let summary = try context.store.summary(of: runID)
        // A resume point from another incarnation of this run id (deleted and created again) replays this
        // one from its start, instead of skipping its first events.
        let resumeAfter = resumePoint.seq(in: EventID.incarnation(createdAtMillis: summary.createdAtMillis))
        if summary.status.isTerminal && resumeAfter >= summary.lastSeq {
            return HTTPResponse(status: 204)
        }
        let stream = EventStream(
            context: context, runID: runID, journal: journal, summary: summary, resumeAfter: resumeAfter,
            replayLimit: visible.size, journalFailed: visible.failed, format: format)
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

/// The resume point: `Last-Event-ID`, else `?last_event_id=`, else 0; `<seq>` or `<seq>.<incarnation>`
/// (see `EventID`).
enum ResumePoint {
    enum Parsed: Equatable {
        case success(EventID.ResumePoint)
        case failure(String)
    }

    static func parse(header: String?, query: String?) -> Parsed {
        let (source, raw): (String, String)
        if let header { (source, raw) = ("Last-Event-ID", header) } else if let query { (source, raw) = ("last_event_id", query) } else {
            return .success(EventID.ResumePoint(seq: 0, incarnation: nil))
        }
        guard let point = EventID.parse(Substring(raw.trimmingWhitespace())) else {
            return .failure(
                "\(source) must be an event id: a non-negative integer that fits in 64 bits, optionally followed by "
                    + "'.' and the run's incarnation (got \"\(raw.prefix(40))\")")
        }
        return .success(point)
    }
}
