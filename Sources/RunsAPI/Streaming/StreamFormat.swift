import RunJournal

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

extension StreamFormat {
    /// One journal line into a stream, for the replay and the live phase alike: what the stream knows of the
    /// run (`state`) takes it in, and unless it is at or before the resume point its frame is appended to
    /// `buffer`. Returns whether the line is terminal and whether a frame was appended.
    ///
    /// A line the client does not get to see (it resumed beyond the last seq) still counts for what the stream
    /// knows of the run: a stop request there starts the grace, and a terminal event there ends the stream (the
    /// client's reconnect then gets 204), instead of heartbeats forever on an ended run.
    func take(
        _ line: JournalReader.Line, resumeAfter: Int64, incarnation: [UInt8], state: inout RunSummary,
        into buffer: inout [UInt8]
    ) -> (terminal: Bool, framed: Bool) {
        if line.seq > state.lastSeq { state.consume(line: line.bytes, fields: line.fields) }
        let terminal = EventType.lifecycle(line.type)?.isTerminal ?? false
        guard line.seq > resumeAfter else { return (terminal, false) }
        switch self {
        case .events:
            SSEFrame.appendEvent(seq: line.seq, incarnation: incarnation, type: line.type, data: line.data, to: &buffer)
        case .lines:
            SSEFrame.appendLine(seq: line.seq, incarnation: incarnation, line: line.bytes, to: &buffer)
        }
        return (terminal, true)
    }
}
