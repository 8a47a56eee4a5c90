#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The socket libfcgi accepts on. It is created here rather than with `FCGX_OpenSocket`, which in 2.4.2
/// calls `exit()` when bind fails and unlinks the path unconditionally (silently stealing the socket of a
/// running instance). Here a stale socket file is replaced, a live one is a clear error, and nothing but
/// a socket is ever unlinked.
final class ListeningSocket: Sendable {
    /// The descriptor handed to `FCGX_InitRequest`.
    let fd: Int32
    /// Whether this process created the socket (and so closes it and removes its file on shutdown).
    /// An inherited socket belongs to the supervisor (systemd keeps it for the next instance).
    let isOwned: Bool
    /// The unix socket path this process bound, with the inode it created, to remove exactly that file.
    let unixPath: String?
    private let unixIdentity: FileIdentity?
    /// The TCP port actually bound (useful with port 0).
    let boundPort: Int?
    private let closed = Atomic<Bool>(false)

    private init(fd: Int32, isOwned: Bool, unixPath: String?, unixIdentity: FileIdentity?, boundPort: Int?) {
        self.fd = fd
        self.isOwned = isOwned
        self.unixPath = unixPath
        self.unixIdentity = unixIdentity
        self.boundPort = boundPort
    }

    static func open(_ configuration: FastCGIServerConfiguration) throws(FastCGIServerError) -> ListeningSocket {
        switch configuration.listen {
        case .unixSocket(let path):
            return try openUnix(path: path, mode: configuration.socketMode, backlog: configuration.listenBacklog)
        case .tcp(let host, let port):
            return try openTCP(host: host, port: port, backlog: configuration.listenBacklog)
        case .inheritedFD0:
            return try adoptInherited(fd: 0)
        }
    }

    /// Closes an owned socket and removes its file if it is still the one we created (a newer instance
    /// may have replaced it after deciding ours was stale). Inherited sockets are left untouched.
    /// Idempotent: a second close must not close whatever now has the same descriptor number.
    func close() {
        guard isOwned, !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if let unixPath, let unixIdentity, FileIdentity(path: unixPath) == unixIdentity {
            unlink(unixPath)
        }
        _ = Glibc.close(fd)
    }

    // MARK: unix

    private static func openUnix(path: String, mode: mode_t, backlog: Int32) throws(FastCGIServerError) -> ListeningSocket {
        var address = try UnixAddress(path: path)
        try removeStaleSocket(at: path, address: &address)

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FastCGIServerError(.listenFailed, "socket(AF_UNIX) failed", errno: errno) }
        if address.bind(fd) != 0 {
            let error = errno
            _ = Glibc.close(fd)
            if error == EADDRINUSE {
                // Someone created the path between our check and bind: never unlink it behind their back.
                throw FastCGIServerError(.socketInUse, "\(path) was created by another process while starting", errno: error)
            }
            throw FastCGIServerError(.listenFailed, "bind(\(path)) failed", errno: error)
        }
        // chmod before listen: until listen() nobody can connect, so there is no window in which the
        // socket is reachable with the umask's (possibly wider) permissions.
        if chmod(path, mode) != 0 {
            let error = errno
            _ = Glibc.close(fd)
            unlink(path)
            throw FastCGIServerError(.listenFailed, "chmod(\(path), \(String(mode, radix: 8))) failed", errno: error)
        }
        let identity = FileIdentity(path: path)
        if listen(fd, backlog) != 0 {
            let error = errno
            _ = Glibc.close(fd)
            unlink(path)
            throw FastCGIServerError(.listenFailed, "listen(\(path)) failed", errno: error)
        }
        return ListeningSocket(fd: fd, isOwned: true, unixPath: path, unixIdentity: identity, boundPort: nil)
    }

    /// A leftover socket file from a process that died without removing it refuses connections
    /// (ECONNREFUSED) and is removed; one that accepts (or whose backlog is full, EAGAIN) is live.
    private static func removeStaleSocket(at path: String, address: inout UnixAddress) throws(FastCGIServerError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw FastCGIServerError(.listenFailed, "cannot inspect \(path)", errno: errno)
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw FastCGIServerError(.pathNotASocket, "\(path) exists and is not a socket; refusing to replace it")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard probe >= 0 else { throw FastCGIServerError(.listenFailed, "socket(AF_UNIX) failed", errno: errno) }
        defer { _ = Glibc.close(probe) }
        if address.connect(probe) == 0 {
            throw FastCGIServerError(.socketInUse, "another process is already serving on \(path)")
        }
        switch errno {
        case ECONNREFUSED:
            if unlink(path) != 0 && errno != ENOENT {
                throw FastCGIServerError(.listenFailed, "cannot remove the stale socket \(path)", errno: errno)
            }
        case ENOENT:
            return
        case EAGAIN, EINPROGRESS:
            throw FastCGIServerError(.socketInUse, "another process is already serving on \(path) (its backlog is full)")
        default:
            throw FastCGIServerError(.listenFailed, "cannot probe the existing socket \(path)", errno: errno)
        }
    }

    // MARK: TCP

    private static func openTCP(host: String, port: Int, backlog: Int32) throws(FastCGIServerError) -> ListeningSocket {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw FastCGIServerError(.listenFailed, "cannot resolve \(host):\(port): \(reason)")
        }
        defer { freeaddrinfo(list) }

        var lastError: FastCGIServerError?
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            if fd < 0 {
                lastError = FastCGIServerError(.listenFailed, "socket() for \(host):\(port) failed", errno: errno)
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
                lastError = FastCGIServerError(.listenFailed, "bind(\(host):\(port)) failed", errno: errno)
                _ = Glibc.close(fd)
                continue
            }
            guard listen(fd, backlog) == 0 else {
                lastError = FastCGIServerError(.listenFailed, "listen(\(host):\(port)) failed", errno: errno)
                _ = Glibc.close(fd)
                continue
            }
            return ListeningSocket(fd: fd, isOwned: true, unixPath: nil, unixIdentity: nil, boundPort: localPort(of: fd))
        }
        throw lastError ?? FastCGIServerError(.listenFailed, "no usable address for \(host):\(port)")
    }

    private static func localPort(of fd: Int32) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard status == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
        default:
            return nil
        }
    }

    // MARK: inherited

    private static func adoptInherited(fd: Int32) throws(FastCGIServerError) -> ListeningSocket {
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 else {
            throw FastCGIServerError(
                .noInheritedSocket,
                "no --socket or listen address was given and fd 0 is not a socket (start under spawn-fcgi or a systemd socket unit, or pass --socket)",
                errno: errno)
        }
        var type: Int32 = 0
        length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length)
        guard accepting == 1, type == Int32(SOCK_STREAM.rawValue) else {
            throw FastCGIServerError(
                .noInheritedSocket,
                "no --socket or listen address was given and fd 0 is not a listening stream socket")
        }
        return ListeningSocket(fd: fd, isOwned: false, unixPath: nil, unixIdentity: nil, boundPort: localPort(of: fd))
    }
}

/// Device and inode of a file: tells "the socket file we created" from one that replaced it.
struct FileIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// A `sockaddr_un` for a filesystem path.
struct UnixAddress {
    private var storage = sockaddr_un()

    init(path: String) throws(FastCGIServerError) {
        storage.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: storage.sun_path)
        guard bytes.count < capacity else {
            throw FastCGIServerError(
                .socketPathTooLong, "the socket path \(path) is \(bytes.count) bytes; at most \(capacity - 1) fit in sockaddr_un")
        }
        guard !bytes.contains(0) else { throw FastCGIServerError(.invalidConfiguration, "the socket path contains a NUL byte") }
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
    }

    mutating func bind(_ fd: Int32) -> Int32 {
        withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    mutating func connect(_ fd: Int32) -> Int32 {
        withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }
}
