import Testing

/// Whether `response` is the answer to a stream over a cap: the responder's at `--max-streams`
/// (`stream-limit`) or nginx's per-client `limit_conn` (`client-stream-limit`). Both are `200
/// text/event-stream` with only a `retry:` hint, so a browser's EventSource reconnects by itself.
func isStreamLimitRefusal(_ response: E2EConnection, reason: String = "stream-limit") -> Bool {
    response.status == 200 && response.header("X-RunJournal-Refused") == reason
}

/// Checks every part of a stream-limit refusal: status, header, content type, `Retry-After`, and a body
/// of a `retry:` hint and a comment only (nothing an EventSource would take for an event), ended at once.
func expectStreamLimitRefusal(
    _ response: E2EConnection, reason: String = "stream-limit", sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(response.status == 200, "\(response.status.map(String.init) ?? "no status") \(response.text)", sourceLocation: sourceLocation)
    #expect(response.header("X-RunJournal-Refused") == reason, sourceLocation: sourceLocation)
    #expect(response.header("Content-Type")?.hasPrefix("text/event-stream") == true, sourceLocation: sourceLocation)
    #expect(response.header("Retry-After").flatMap { Int($0) }.map { $0 > 0 } == true, sourceLocation: sourceLocation)
    #expect(response.ended, "the refusal must end at once", sourceLocation: sourceLocation)
    let lines = response.text.split(separator: "\n", omittingEmptySubsequences: true)
    #expect(lines.first?.hasPrefix("retry: ") == true, "\(response.text)", sourceLocation: sourceLocation)
    #expect(lines.dropFirst().allSatisfy { $0.hasPrefix(":") }, "only comments may follow the retry hint: \(response.text)", sourceLocation: sourceLocation)
    #expect(response.text.contains("stream limit"), sourceLocation: sourceLocation)
}
