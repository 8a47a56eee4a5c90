#if canImport(Glibc)
import Glibc
#endif

/// Lets the stream loop, made during the server's init, hand kept connections back to the server.
final class KeptConnectionDispatcher: @unchecked Sendable {
    /// Set once at the end of the server's init, before any thread runs.
    var target: ((Int32) -> Void)?

    func dispatch(_ fd: Int32) {
        if let target { target(fd) } else { _ = close(fd) }
    }
}
