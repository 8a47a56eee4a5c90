/// Every failure the store reports, each carrying its meaning so the edges (HTTP, CLI) can map it to a
/// status code or exit code without parsing messages. The store itself knows nothing about HTTP.
public enum JournalError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The id does not match `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`.
    case invalidRunID(String)
    /// The event type does not match `^[a-z][a-z0-9_.:-]{0,63}$`.
    case invalidEventType(String)
    /// The JSON text is malformed; `offset` is the byte offset where parsing failed.
    case invalidJSON(offset: Int, reason: String)
    /// The run's journal does not exist.
    case runNotFound(RunID)
    /// `create` was asked for an id whose journal already exists.
    case runExists(RunID)
    /// The run already ended with a terminal event; nothing may follow it.
    case runTerminal(RunID, RunStatus)
    /// The event type is reserved for one operation (`run.created` for create, `run.stop_requested` for stop).
    case reservedEventType(EventType)
    /// A batch holds an event after a terminal one, or is empty.
    case invalidBatch(String)
    /// The journal's bytes break the format (found by verify, or while reading a line).
    case corruptJournal(path: String, line: Int, reason: String)
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// A write or sync of this journal failed earlier (`errno` says how): what was written since its last
    /// good sync may never reach the disk, so nothing more is appended until `verify --repair` rewrites it.
    case journalFailed(RunID, operation: String, errno: Int32)
    /// An `Idempotency-Key` that is empty, longer than 128 characters or not printable ASCII.
    case invalidIdempotencyKey(String)
    /// The key was used before for a different request (another body) on this run.
    case idempotencyKeyReused(RunID, key: String)
    /// A conditional append (`If-Match`) whose expected last seq is not the run's.
    case lastSeqMismatch(RunID, expected: Int64, actual: Int64)

    /// A stable machine-readable code, used as the `code` of HTTP error bodies.
    public var code: String {
        switch self {
        case .invalidRunID: return "invalid_run_id"
        case .invalidEventType: return "invalid_event_type"
        case .invalidJSON: return "invalid_json"
        case .runNotFound: return "run_not_found"
        case .runExists: return "run_exists"
        case .runTerminal: return "run_terminal"
        case .reservedEventType: return "reserved_event_type"
        case .invalidBatch: return "invalid_batch"
        case .corruptJournal: return "corrupt_journal"
        case .io: return "io_error"
        case .journalFailed: return "journal_failed"
        case .invalidIdempotencyKey: return "invalid_idempotency_key"
        case .idempotencyKeyReused: return "idempotency_key_reused"
        case .lastSeqMismatch: return "last_seq_mismatch"
        }
    }

    public var description: String {
        switch self {
        case .invalidRunID(let id):
            return "invalid run id \(JournalError.quoted(id)): must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
        case .invalidEventType(let type):
            return "invalid event type \(JournalError.quoted(type)): must match ^[a-z][a-z0-9_.:-]{0,63}$"
        case .invalidJSON(let offset, let reason):
            // A negative offset means the reason already says where (an NDJSON line and its byte).
            return offset < 0 ? "invalid JSON: \(reason)" : "invalid JSON at byte \(offset): \(reason)"
        case .runNotFound(let id):
            return "run \(id) not found"
        case .runExists(let id):
            return "run \(id) already exists"
        case .runTerminal(let id, let status):
            return "run \(id) is already \(status.rawValue); nothing may be appended after a terminal event"
        case .reservedEventType(let type):
            return "event type \(type) is reserved: \(type == .created ? "only create appends it" : "only the stop operation appends it")"
        case .invalidBatch(let reason):
            return "invalid batch: \(reason)"
        case .corruptJournal(let path, let line, let reason):
            return "\(path):\(line): \(reason)"
        case .io(let operation, let path, let errno):
            return "\(operation) \(path): \(String(cString: strerror(errno)))"
        case .journalFailed(let id, let operation, let errno):
            return "journal of run \(id) failed (\(operation): \(String(cString: strerror(errno)))); "
                + "appends are refused until an operator runs `runjournal verify --repair \(id)`"
        case .invalidIdempotencyKey(let key):
            return "invalid Idempotency-Key \(JournalError.quoted(key)): must be 1-128 printable ASCII characters"
        case .idempotencyKeyReused(let id, let key):
            return "Idempotency-Key \(JournalError.quoted(key)) was already used on run \(id) for a different request"
        case .lastSeqMismatch(let id, let expected, let actual):
            return "run \(id) has last seq \(actual), not \(expected)"
        }
    }

    /// Quotes a user-supplied string for an error message, escaping control bytes and truncating it.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars.prefix(80) {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        if text.unicodeScalars.count > 80 { out += "…" }
        return out + "\""
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
