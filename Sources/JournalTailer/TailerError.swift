#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// Every failure the tailer reports to its callers. The API layer maps `notFound` to 404 and the rest to
/// server errors; the tailer itself knows nothing about HTTP.
public enum TailerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The journal (or directory) does not exist at `path`.
    case notFound(path: String)
    /// `subscribe` was given something that is not a regular file.
    case notARegularFile(path: String)
    /// `watchDirectory` was given something that is not a directory.
    case notADirectory(path: String)
    /// A subscription offset must be zero or positive (it is the byte just after a complete line).
    case invalidOffset(Int64)
    /// `read` was called on a subscription after `cancel()`.
    case cancelled
    /// A system call failed; `errno` is kept so callers can tell EIO from EACCES.
    case io(operation: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .notFound(let path): return "\(path): no such file or directory"
        case .notARegularFile(let path): return "\(path): not a regular file"
        case .notADirectory(let path): return "\(path): not a directory"
        case .invalidOffset(let offset): return "invalid subscription offset \(offset): must be >= 0"
        case .cancelled: return "the subscription was cancelled"
        case .io(let operation, let path, let errno):
            return "\(operation) \(path): \(String(cString: strerror(errno)))"
        }
    }

    init(_ error: SystemError, path: String) {
        self = .io(operation: error.operation, path: path, errno: error.errno)
    }
}
