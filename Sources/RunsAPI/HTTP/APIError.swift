import RunJournal

/// Maps store errors to HTTP answers. This is the one place where a `JournalError` becomes a status code:
/// the store knows nothing about HTTP, the transport nothing about journals.
public enum APIError {
    public static func response(for error: any Error) -> HTTPResponse {
        guard let error = error as? JournalError else {
            return .error(500, code: "internal_error", message: "internal error: \(error)")
        }
        switch error {
        case .invalidRunID, .invalidEventType, .invalidJSON, .invalidBatch:
            return .error(400, code: error.code, message: error.description)
        case .runNotFound:
            return .error(404, code: error.code, message: error.description)
        case .runExists, .runTerminal:
            return .error(409, code: error.code, message: error.description)
        case .reservedEventType:
            return .error(422, code: error.code, message: error.description)
        case .corruptJournal:
            return .error(500, code: error.code, message: error.description)
        case .io(_, _, let code) where code == 28 /* ENOSPC */:
            return .error(507, code: "insufficient_storage", message: error.description)
        case .io:
            return .error(500, code: error.code, message: error.description)
        }
    }

    static func badRequest(_ code: String, _ message: String) -> HTTPResponse {
        .error(400, code: code, message: message)
    }
}
