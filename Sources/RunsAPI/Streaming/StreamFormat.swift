/// How `GET /v1/runs/:id/events` frames each event, chosen with `?format=`.
///
/// Exists because a browser's `EventSource` hands a named event (`event: <type>`) only to a listener
/// registered for that exact type, and a run's types are open-ended; and because the default frame carries
/// seq (in the id), type and data but not the event's `ts`. `lines` sends every event as an unnamed message
/// (`onmessage` gets them all) whose data is the whole journal line, `ts` included.
enum StreamFormat: Equatable {
    /// `id: <seq>.<incarnation>\nevent: <type>\ndata: <data>\n\n` — the default.
    case events
    /// `id: <seq>.<incarnation>\ndata: <journal line>\n\n` — the line exactly as stored.
    case lines

    /// Absent → `events`; `events` or `lines`; anything else is nil (the operation answers 400).
    static func parse(_ raw: String?) -> StreamFormat? {
        switch raw {
        case nil, "events": .events
        case "lines": .lines
        default: nil
        }
    }
}
