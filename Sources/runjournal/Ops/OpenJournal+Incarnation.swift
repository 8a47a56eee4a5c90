import RunJournal
import RunsAPI

extension OpenJournal {
    /// The run's incarnation as SSE ids carry it (`EventID`): from the `ts` of its first line, `run.created`.
    func incarnation() throws -> [UInt8] {
        var createdAtMillis: Int64 = 0
        try forEachLine(from: 0) { line in
            createdAtMillis = line.fields.timestampMillis
            return false
        }
        return EventID.incarnation(createdAtMillis: createdAtMillis)
    }
}
