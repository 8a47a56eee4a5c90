#if canImport(Glibc)
import Glibc
#endif

/// The one thin layer over the file system calls of the store, the tailer and the CLI: each call is retried on
/// EINTR, loops over short reads and writes where its name says so, and reports failure as `SystemError`
/// naming the operation and path. The store's fault seam (`StoreFaults`) sits in front of the writing calls.
public enum Sys {
    /// Opens `path`. Files (everything but an `O_DIRECTORY` open) are opened with `O_NOFOLLOW`: a journal,
    /// marker or index that is a symbolic link is refused (the link could point anywhere the service user
    /// can write), with an error that says so. A directory may be a link. `mode` matters only with `O_CREAT`.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(SystemError) -> Int32 {
        let noFollow = flags & O_DIRECTORY == 0
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0), mode)
            if fd >= 0 { return fd }
            if errno == ELOOP && noFollow {
                throw SystemError(operation: "open (symbolic links are refused)", path: path, errno: ELOOP)
            }
            if errno != EINTR { throw SystemError(operation: "open", path: path, errno: errno) }
        }
    }

    /// Creates a new file (`O_EXCL`, never through a link) with exactly `mode`: the mode is set with
    /// `fchmod` after the create, so the process umask cannot narrow it.
    public static func createFile(_ path: String, _ flags: Int32 = O_WRONLY, mode: mode_t) throws(SystemError) -> Int32 {
        let fd = try open(path, flags | O_CREAT | O_EXCL, mode: mode)
        while fchmod(fd, mode) != 0 {
            if errno == EINTR { continue }
            let code = errno
            Glibc.close(fd)
            unlink(path)
            throw SystemError(operation: "fchmod", path: path, errno: code)
        }
        return fd
    }

    /// Creates the directory `path` with exactly `mode` (see `createFile`); an existing directory is left as
    /// it is. True when this call created it.
    @discardableResult
    public static func createDirectory(_ path: String, mode: mode_t) throws(SystemError) -> Bool {
        if mkdir(path, mode) != 0 {
            if errno == EEXIST { return false }
            throw SystemError(operation: "mkdir", path: path, errno: errno)
        }
        if chmod(path, mode) != 0 { throw SystemError(operation: "chmod", path: path, errno: errno) }
        return true
    }

    public static func fstat(_ fd: Int32, path: String = "") throws(SystemError) -> FileStatus {
        var raw = Glibc.stat()
        while Glibc.fstat(fd, &raw) != 0 {
            if errno != EINTR { throw SystemError(operation: "fstat", path: path, errno: errno) }
        }
        return FileStatus(raw)
    }

    /// `stat(2)`: follows a final symbolic link.
    public static func stat(_ path: String) throws(SystemError) -> FileStatus {
        var raw = Glibc.stat()
        while statPath(path, &raw) != 0 {
            if errno != EINTR { throw SystemError(operation: "stat", path: path, errno: errno) }
        }
        return FileStatus(raw)
    }

    /// `stat` that returns nil for a missing file instead of throwing.
    public static func statIfExists(_ path: String) throws(SystemError) -> FileStatus? {
        do {
            return try stat(path)
        } catch where error.errno == ENOENT || error.errno == ENOTDIR {
            return nil
        }
    }

    public static func flock(_ fd: Int32, _ operation: Int32, path: String) throws(SystemError) {
        while lockFile(fd, operation) != 0 {
            if errno != EINTR { throw SystemError(operation: "flock", path: path, errno: errno) }
        }
    }

    public static func unlock(_ fd: Int32) {
        _ = lockFile(fd, LOCK_UN)
    }

    /// Writes all of `bytes` (at the end of the file when the fd is O_APPEND). Returns normally only when every
    /// byte is written; on failure the caller truncates back so no partial line survives.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(SystemError) {
        var written = 0
        while written < bytes.count {
            let result = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw SystemError(operation: "write", path: path, errno: errno)
            }
            if result == 0 { throw SystemError(operation: "write", path: path, errno: EIO) }
            written += result
        }
    }

    /// One `pread` call (retried on EINTR only): the number of bytes read, 0 at end of file.
    public static func pread(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String = ""
    ) throws(SystemError) -> Int {
        while true {
            let count = Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if count >= 0 { return count }
            if errno != EINTR { throw SystemError(operation: "read", path: path, errno: errno) }
        }
    }

    /// Fills `buffer` from `offset` with as many `pread` calls as it takes; fewer bytes only at end of file
    /// (the file may have shrunk since it was measured). `onRead` runs before each call: the read counters
    /// that tests use to prove idle subscribers cost nothing and fan-out reads once.
    public static func preadFully(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String = "",
        onRead: () -> Void = {}
    ) throws(SystemError) -> Int {
        var total = 0
        while total < buffer.count {
            onRead()
            let count = try pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]), at: offset + Int64(total), path: path)
            if count == 0 { break }
            total += count
        }
        return total
    }

    public static func ftruncate(_ fd: Int32, _ length: Int64, path: String) throws(SystemError) {
        while Glibc.ftruncate(fd, off_t(length)) != 0 {
            if errno != EINTR { throw SystemError(operation: "ftruncate", path: path, errno: errno) }
        }
    }

    /// `fdatasync(2)`. A failure is final: on Linux the error is reported once and the dirty pages may be gone,
    /// so a caller must never retry it and treat a later success as covering the bytes (docs/reliability.md).
    public static func fdatasync(_ fd: Int32, path: String = "") throws(SystemError) {
        while Glibc.fdatasync(fd) != 0 {
            if errno != EINTR { throw SystemError(operation: "fdatasync", path: path, errno: errno) }
        }
    }

    /// `fallocate(FALLOC_FL_KEEP_SIZE)`: reserves blocks past the end without changing the size readers see.
    /// False (nothing reserved, no error) where the filesystem does not support it.
    public static func reserve(_ fd: Int32, offset: Int64, length: Int64, path: String) throws(SystemError) -> Bool {
        while linuxFallocate(fd, 0x01 /* FALLOC_FL_KEEP_SIZE */, offset, length) != 0 {
            switch errno {
            case EINTR: continue
            case EOPNOTSUPP, ENOSYS, EINVAL: return false
            default: throw SystemError(operation: "fallocate", path: path, errno: errno)
            }
        }
        return true
    }

    public static func fsyncDirectory(_ path: String) throws(SystemError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { Glibc.close(fd) }
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw SystemError(operation: "fsync", path: path, errno: errno) }
        }
    }

    /// Closes `fd`. EINTR is not retried: on Linux the descriptor is released even when close is interrupted,
    /// and retrying could close a descriptor another thread has just been given.
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Names in a directory, without "." and "..".
    public static func listDirectory(_ path: String) throws(SystemError) -> Set<String> {
        guard let dir = opendir(path) else { throw SystemError(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names = Set<String>()
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SystemError(operation: "readdir", path: path, errno: errno) }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.insert(name) }
        }
    }

    /// Sleeps the whole `duration`, resuming after a signal interrupts it.
    public static func sleep(for duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR {
            request = remaining
        }
    }
}

/// `flock(2)`. Inside `Sys` the name means `Sys.flock`, and `Glibc.flock` also names `struct flock`.
private func lockFile(_ fd: Int32, _ operation: Int32) -> Int32 {
    flock(fd, operation)
}

/// `stat(2)`, at file scope where the name resolves to the function rather than the struct.
private func statPath(_ path: String, _ info: inout stat) -> Int32 {
    stat(path, &info)
}

/// `fallocate(2)`, which Glibc's Swift overlay does not export (it is a GNU extension; `posix_fallocate` cannot
/// keep the size). off_t is 64-bit on the Linux targets we build for.
@_silgen_name("fallocate")
private func linuxFallocate(_ fd: Int32, _ mode: Int32, _ offset: Int64, _ length: Int64) -> Int32
