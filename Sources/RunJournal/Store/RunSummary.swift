/// What a run looks like from outside: status and the rest, all derived from its journal.
///
/// Built by feeding lines to `consume` once per journal and then kept current incrementally as lines are
/// appended or read; never by rescanning the whole file per request.
public struct RunSummary: Sendable, Equatable {
    public var id: RunID
    public var status: RunStatus = .queued
    public var stopRequested = false
    public var createdAtMillis: Int64 = 0
    public var updatedAtMillis: Int64 = 0
    public var lastSeq: Int64 = 0
    /// The `metadata` object from `run.created`, compact JSON (`{}` when absent).
    public var metadata: [UInt8] = Array("{}".utf8)
    /// The type of the last event (the idle watchdog ignores a run whose last event is `run.waiting`).
    public var lastType: String = ""
    /// When `run.stop_requested` was appended (stop grace is measured from it).
    public var stopRequestedAtMillis: Int64?
    /// The `reason` string of the terminal `run.failed` / `run.stopped` event, if it has one.
    public var terminalReason: String?
    /// Journal bytes this summary accounts for (the offset just after its last line).
    public var byteCount: Int64 = 0

    public init(id: RunID) { self.id = id }

    /// Accounts for one more line. `line` is the whole line without `\n`; `fields` its scan.
    public mutating func consume(line: UnsafeRawBufferPointer, fields: EventLine.Fields) {
        let type = UnsafeRawBufferPointer(rebasing: line[fields.type])
        lastSeq = fields.seq
        updatedAtMillis = fields.timestampMillis
        lastType = String(decoding: type, as: UTF8.self)
        // Any type but the lifecycle ones affects the status exactly like run.started.
        let eventType = EventType.lifecycle(type) ?? .started
        if fields.seq == 1 {
            createdAtMillis = fields.timestampMillis
            if let metadata = try? JSONObjectReader.members(of: ArraySlice(line[fields.data]))
                .first(where: { $0.key == "metadata" })?.value, metadata.first == UInt8(ascii: "{") {
                self.metadata = Array(metadata)
            }
        }
        if eventType == .stopRequested, !stopRequested {
            stopRequested = true
            stopRequestedAtMillis = fields.timestampMillis
        }
        if eventType.isTerminal,
            let reason = try? JSONObjectReader.members(of: ArraySlice(line[fields.data])).first(where: { $0.key == "reason" })?.value,
            reason.first == UInt8(ascii: "\"")
        {
            terminalReason = try? JSONObjectReader.decodeString(reason)
        }
        status = status.after(eventType)
        byteCount += Int64(line.count + 1)
    }

    /// The API's run shape: `{"id","status","stop_requested","created_at","updated_at","last_seq","metadata"}`,
    /// plus `"reason"` when the terminal `run.failed` / `run.stopped` event gave one (a list of runs shows why
    /// each one ended without reading its journal).
    public func writeJSON(to writer: inout JSONWriter) {
        writer.object {
            $0.key("id"); $0.string(id.rawValue)
            $0.key("status"); $0.string(status.rawValue)
            $0.key("stop_requested"); $0.bool(stopRequested)
            $0.key("created_at"); $0.string(Timestamp.format(millis: createdAtMillis))
            $0.key("updated_at"); $0.string(Timestamp.format(millis: updatedAtMillis))
            $0.key("last_seq"); $0.int(lastSeq)
            $0.key("metadata"); $0.raw(metadata)
            if let terminalReason { $0.key("reason"); $0.string(terminalReason) }
        }
    }

    public var json: [UInt8] {
        var writer = JSONWriter()
        writeJSON(to: &writer)
        return writer.bytes
    }
}
