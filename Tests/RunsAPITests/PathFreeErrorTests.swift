import Foundation
import RunJournal
import RunsAPI
import Testing

/// Error bodies never carry filesystem paths: they would tell any client where the journals live and who
/// the service runs as. The store's errors that hold one are summarized without it.
@Suite("Errors: no filesystem paths in bodies")
struct PathFreeErrorTests {
    static let secret = "/srv/secret-place/journals/run-1.jsonl"

    static func body(_ response: HTTPResponse) -> String {
        guard case .bytes(let bytes) = response.body else { return "" }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("io, corrupt journal, ENOSPC and unexpected errors answer without the path but keep their status and code",
          arguments: [
            (JournalError.io(operation: "open", path: secret, errno: EACCES), 500, "io_error"),
            (JournalError.io(operation: "write", path: secret, errno: ENOSPC), 507, "insufficient_storage"),
            (JournalError.corruptJournal(path: secret, line: 7, reason: "bad line in \(secret)"), 500, "corrupt_journal"),
          ])
    func storeErrorsArePathFree(error: JournalError, status: Int, code: String) {
        let response = APIError.response(for: error)
        #expect(response.status == status)
        #expect(Self.body(response).contains(#""code":"\#(code)""#), "\(Self.body(response))")
        #expect(!Self.body(response).contains("/srv"), "\(Self.body(response))")
        #expect(APIError.isServerFault(error))
    }

    @Test("an unexpected error's description (which may hold a path) stays out of the body")
    func unexpectedErrorsArePathFree() {
        struct Unexpected: Error, CustomStringConvertible { var description: String { "failed at \(PathFreeErrorTests.secret)" } }
        let response = APIError.response(for: Unexpected())
        #expect(response.status == 500)
        #expect(!Self.body(response).contains("/srv"), "\(Self.body(response))")
        #expect(APIError.isServerFault(Unexpected()))
    }

    @Test("a request's own errors are not server faults")
    func clientErrorsAreNotLogged() throws {
        #expect(!APIError.isServerFault(JournalError.runNotFound(try RunID("x"))))
    }
}
