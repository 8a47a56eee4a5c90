#if canImport(Glibc)
import Glibc
#endif

/// Why the FastCGI server could not start or had to stop: a kind to branch on, a message for the
/// operator, and the `errno` behind it when a system call failed.
public struct FastCGIServerError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// A configuration value is out of range.
        case invalidConfiguration
        /// Another process is accepting on the unix socket path.
        case socketInUse
        /// The socket path exists and is not a socket (never deleted on our behalf).
        case pathNotASocket
        /// The unix socket path does not fit in `sockaddr_un`.
        case socketPathTooLong
        /// socket/bind/listen/chmod on the listening socket failed.
        case listenFailed
        /// fd 0 is not a listening stream socket although `.inheritedFD0` was asked for.
        case noInheritedSocket
        /// libfcgi's `FCGX_Init` failed.
        case libraryInitFailed
        /// `run()` was called twice.
        case alreadyRunning
        /// A thread (acceptor, monitor) could not be created.
        case threadCreationFailed
        /// The listening socket became unusable while serving.
        case acceptFailed
    }

    public var kind: Kind
    public var message: String
    /// The `errno` of the failing system call, if any.
    public var errno: Int32?

    public init(_ kind: Kind, _ message: String, errno: Int32? = nil) {
        self.kind = kind
        self.message = message
        self.errno = errno
    }

    public var description: String {
        guard let errno else { return message }
        return "\(message): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
