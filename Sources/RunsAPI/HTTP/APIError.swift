import RunJournal
#if canImport(Glibc)
import Glibc
#endif

/// Maps store errors to HTTP answers. This is the one place where a `JournalError` becomes a status code:
/// the store knows nothing about HTTP, the transport nothing about journals.
///
/// Bodies never carry filesystem paths: a path tells a client where the journals live and who the service
/// runs as. The store's errors that hold one (`io`, `corruptJournal`, anything unexpected) get a path-free
/// message here, and `isServerFault` tells the caller to log the full error, path included.
public enum APIError {
    public static func response(for error: any Error) -> HTTPResponse {
        guard let error = error as? JournalError else {
            return .error(500, code: "internal_error", message: "internal error; the server log has the details")
        }
        switch error {
        case .invalidRunID, .invalidEventType, .invalidJSON, .invalidBatch, .invalidIdempotencyKey:
            return .error(400, code: error.code, message: error.description)
        case .runNotFound:
            return .error(404, code: error.code, message: error.description)
        case .runExists, .runTerminal:
            return .error(409, code: error.code, message: error.description)
        case .reservedEventType, .idempotencyKeyReused:
            return .error(422, code: error.code, message: error.description)
        case .lastSeqMismatch(_, _, let actual):
            var body = JSONWriter()
            body.object {
                $0.key("error")
                $0.object {
                    $0.key("code"); $0.string(error.code)
                    $0.key("message"); $0.string(error.description)
                    $0.key("last_seq"); $0.int(actual)
                }
            }
            return .json(412, body.bytes, extraHeaders: [ETag.header(lastSeq: actual)])
        case .journalFailed(_, _, let code):
            // 507 when the disk is full, 503 for every other failure; either way until an operator repairs it.
            return .error(code == 28 /* ENOSPC */ ? 507 : 503, code: error.code, message: error.description)
        case .corruptJournal(_, let line, _):
            return .error(500, code: error.code, message: "the run's journal is corrupt at line \(line); the server log has the details")
        case .io(let operation, _, let code) where code == 28 /* ENOSPC */:
            return .error(507, code: "insufficient_storage", message: storageMessage(operation, code))
        case .io(let operation, _, let code):
            return .error(500, code: error.code, message: storageMessage(operation, code))
        }
    }

    /// Whether `error` is the server's fault rather than the request's: log it in full (the body has only a
    /// path-free summary).
    public static func isServerFault(_ error: any Error) -> Bool {
        switch error as? JournalError {
        case .io?, .corruptJournal?, nil: return true
        default: return false
        }
    }

    private static func storageMessage(_ operation: String, _ code: Int32) -> String {
        "storage error: \(operation) failed (\(String(cString: strerror(code))))"
    }

    static func badRequest(_ code: String, _ message: String) -> HTTPResponse {
        .error(400, code: code, message: message)
    }
}
