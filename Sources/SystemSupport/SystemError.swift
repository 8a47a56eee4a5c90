#if canImport(Glibc)
import Glibc
#endif

/// A failed system call, kept raw (operation, path and errno) so each layer decides what it means: ENOENT from
/// `stat` is "deleted" to the tailer's reader but "not found" to `subscribe`, and the store turns every one
/// into `JournalError.io`. `Sys` throws nothing else, so callers never inspect the global errno.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The call that failed, as it should read in a log line ("open", "fdatasync", "inotify_add_watch").
    public let operation: String
    /// The file the call was about; empty when it was about a descriptor whose path the caller did not give.
    public let path: String
    /// The error number the call returned or set.
    public let errno: Int32

    public init(operation: String, path: String = "", errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return path.isEmpty ? "\(operation): \(reason)" : "\(operation) \(path): \(reason)"
    }
}
