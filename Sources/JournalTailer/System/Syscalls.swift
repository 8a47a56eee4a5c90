#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call, kept raw (operation and errno) so the caller decides what it means: ENOENT from
/// `stat` is "deleted" to the reader but "not found" to `subscribe`.
struct SystemError: Error, Equatable, Sendable {
    let operation: String
    let errno: Int32
}

/// The parts of `struct stat` the tailer reasons about.
struct FileStatus: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var linkCount: UInt64
    var size: Int64
    var isRegularFile: Bool
    var isDirectory: Bool

    init(_ raw: stat) {
        device = UInt64(raw.st_dev)
        inode = UInt64(raw.st_ino)
        linkCount = UInt64(raw.st_nlink)
        size = Int64(raw.st_size)
        isRegularFile = (raw.st_mode & S_IFMT) == S_IFREG
        isDirectory = (raw.st_mode & S_IFMT) == S_IFDIR
    }

    /// Same file (device and inode), whatever its size or link count.
    func isSameFile(as other: FileStatus) -> Bool {
        device == other.device && inode == other.inode
    }
}

/// A thin layer over the system calls the tailer makes, each retried on EINTR and reported as `SystemError`,
/// so the rest of the module never inspects the global errno.
enum Sys {
    static func open(_ path: String, flags: Int32) throws(SystemError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC)
            if fd >= 0 { return fd }
            if errno != EINTR { throw SystemError(operation: "open", errno: errno) }
        }
    }

    static func fstat(_ fd: Int32) throws(SystemError) -> FileStatus {
        var raw = Glibc.stat()
        while Glibc.fstat(fd, &raw) != 0 {
            if errno != EINTR { throw SystemError(operation: "fstat", errno: errno) }
        }
        return FileStatus(raw)
    }

    static func stat(_ path: String) throws(SystemError) -> FileStatus {
        var raw = Glibc.stat()
        while statPath(path, &raw) != 0 {
            if errno != EINTR { throw SystemError(operation: "stat", errno: errno) }
        }
        return FileStatus(raw)
    }

    /// One `pread` call (retried on EINTR only); returns the number of bytes read, 0 at end of file.
    static func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        while true {
            let n = Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno != EINTR { throw SystemError(operation: "pread", errno: errno) }
        }
    }

    static func fdatasync(_ fd: Int32) throws(SystemError) {
        while Glibc.fdatasync(fd) != 0 {
            if errno != EINTR { throw SystemError(operation: "fdatasync", errno: errno) }
        }
    }

    /// Closes `fd`. EINTR is not retried: on Linux the descriptor is released even when close is interrupted,
    /// and retrying could close a descriptor another thread has just been given.
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Names in a directory, without "." and "..".
    static func listDirectory(_ path: String) throws(SystemError) -> Set<String> {
        guard let dir = opendir(path) else { throw SystemError(operation: "opendir", errno: errno) }
        defer { closedir(dir) }
        var names = Set<String>()
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SystemError(operation: "readdir", errno: errno) }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.insert(name) }
        }
    }

    static func sleep(for duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR {
            request = remaining
        }
    }
}

/// `stat(2)`, at file scope where the name resolves to the function rather than the struct.
private func statPath(_ path: String, _ buffer: inout Glibc.stat) -> Int32 {
    stat(path, &buffer)
}

/// Reads `[start, start + count)` with as many `pread` calls as it takes, stopping early at end of file (the
/// file may have shrunk since it was measured). `onRead` is called once per `pread`: the read counters that
/// tests use to prove idle subscribers cost nothing and fan-out reads once.
func readRange(fd: Int32, start: Int64, count: Int, onRead: () -> Void) throws(SystemError) -> [UInt8] {
    guard count > 0 else { return [] }
    var bytes = [UInt8](repeating: 0, count: count)
    var filled = 0
    var failure: SystemError?
    bytes.withUnsafeMutableBytes { buffer in
        while filled < count {
            onRead()
            do throws(SystemError) {
                let n = try Sys.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]), at: start + Int64(filled))
                if n == 0 { break }
                filled += n
            } catch {
                failure = error
                return
            }
        }
    }
    if let failure { throw failure }
    if filled < count { bytes.removeSubrange(filled...) }
    return bytes
}
