import RunsAPI

/// The answer to a stream request that finds every `maxStreams` slot taken. Not an error status: a
/// browser's `EventSource` gives up for good on any status but 200 (a 503 would leave the page without
/// events until it is reloaded). A `200 text/event-stream` whose body is only a `retry:` hint and a comment,
/// then its end, makes `EventSource` reconnect by itself after the hint, and it gets in as soon as a slot is
/// free. Other clients learn why from the `X-RunJournal-Refused: stream-limit` header, the comment and
/// `Retry-After`; nothing in the body looks like an event, so none is taken for one.
enum StreamLimitRefusal {
    static let headerName = "X-RunJournal-Refused"
    static let headerValue = "stream-limit"

    static func response(retryAfterSeconds: Int) -> HTTPResponse {
        let retryMillis = max(1, retryAfterSeconds) * 1000
        let body = "retry: \(retryMillis)\n: stream limit reached\n\n"
        return HTTPResponse(
            status: 200,
            headers: [
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-store"),
                (headerName, headerValue),
                ("Retry-After", String(max(1, retryAfterSeconds))),
            ],
            body: .bytes(Array(body.utf8)))
    }
}
