#if canImport(Glibc)
import Glibc
#endif

/// Thin wrappers over the system calls the store uses: retry on EINTR, turn failures into
/// `JournalError.io` naming the operation and path, loop over short reads and writes.
enum Sys {
    /// Opens `path`. Files (everything but an `O_DIRECTORY` open) are opened with `O_NOFOLLOW`: a journal,
    /// marker or index that is a symbolic link is refused (the link could point anywhere the service user
    /// can write), with an error that says so. The journal directory itself may be a link.
    static func open(_ path: String, _ flags: Int32, mode: mode_t = FileModes.defaultJournalMode) throws -> Int32 {
        let noFollow = flags & O_DIRECTORY == 0
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0), mode)
            if fd >= 0 { return fd }
            if errno == ELOOP && noFollow {
                throw JournalError.io(operation: "open (symbolic links are refused)", path: path, errno: ELOOP)
            }
            if errno != EINTR { throw JournalError.io(operation: "open", path: path, errno: errno) }
        }
    }

    /// Creates a new file (`O_EXCL`, never through a link) with exactly `mode`: the mode is set with
    /// `fchmod` after the create, so the process umask cannot narrow or the caller's intent be lost.
    static func createFile(_ path: String, _ flags: Int32 = O_WRONLY, mode: mode_t) throws -> Int32 {
        let fd = try open(path, flags | O_CREAT | O_EXCL, mode: mode)
        while fchmod(fd, mode) != 0 {
            if errno == EINTR { continue }
            let code = errno
            close(fd)
            unlink(path)
            throw JournalError.io(operation: "fchmod", path: path, errno: code)
        }
        return fd
    }

    /// Creates the directory `path` with exactly `mode` (see `createFile`); an existing directory is left as
    /// it is. True when this call created it.
    @discardableResult
    static func createDirectory(_ path: String, mode: mode_t) throws -> Bool {
        if mkdir(path, mode) != 0 {
            if errno == EEXIST { return false }
            throw JournalError.io(operation: "mkdir", path: path, errno: errno)
        }
        if chmod(path, mode) != 0 { throw JournalError.io(operation: "chmod", path: path, errno: errno) }
        return true
    }

    static func fstat(_ fd: Int32, path: String) throws -> stat {
        var info = stat()
        guard Glibc.fstat(fd, &info) == 0 else { throw JournalError.io(operation: "fstat", path: path, errno: errno) }
        return info
    }

    /// `stat` that returns nil for a missing file instead of throwing.
    static func statIfExists(_ path: String) throws -> stat? {
        var info = stat()
        if statPath(path, &info) == 0 { return info }
        if errno == ENOENT || errno == ENOTDIR { return nil }
        throw JournalError.io(operation: "stat", path: path, errno: errno)
    }

    static func flock(_ fd: Int32, _ operation: Int32, path: String) throws {
        while lockFile(fd, operation) != 0 {
            if errno != EINTR { throw JournalError.io(operation: "flock", path: path, errno: errno) }
        }
    }

    /// Writes all of `bytes` at the end of the file (the fd is O_APPEND). Returns normally only when every
    /// byte is written; on failure the caller truncates back so no partial line survives.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var written = 0
        while written < bytes.count {
            let result = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw JournalError.io(operation: "write", path: path, errno: errno)
            }
            if result == 0 { throw JournalError.io(operation: "write", path: path, errno: EIO) }
            written += result
        }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    static func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String) throws -> Int {
        var total = 0
        while total < buffer.count {
            let result = Glibc.pread(fd, buffer.baseAddress! + total, buffer.count - total, off_t(offset) + off_t(total))
            if result < 0 {
                if errno == EINTR { continue }
                throw JournalError.io(operation: "read", path: path, errno: errno)
            }
            if result == 0 { break }
            total += result
        }
        return total
    }

    static func unlock(_ fd: Int32) {
        _ = lockFile(fd, LOCK_UN)
    }

    static func ftruncate(_ fd: Int32, _ length: Int64, path: String) throws {
        while Glibc.ftruncate(fd, off_t(length)) != 0 {
            if errno != EINTR { throw JournalError.io(operation: "ftruncate", path: path, errno: errno) }
        }
    }

    static func fdatasync(_ fd: Int32, path: String) throws {
        while Glibc.fdatasync(fd) != 0 {
            if errno != EINTR { throw JournalError.io(operation: "fdatasync", path: path, errno: errno) }
        }
    }

    /// `fallocate(FALLOC_FL_KEEP_SIZE)`: reserves blocks past the end without changing the size readers see.
    /// False (nothing reserved, no error) where the filesystem does not support it.
    static func reserve(_ fd: Int32, offset: Int64, length: Int64, path: String) throws -> Bool {
        while linuxFallocate(fd, 0x01 /* FALLOC_FL_KEEP_SIZE */, offset, length) != 0 {
            switch errno {
            case EINTR: continue
            case EOPNOTSUPP, ENOSYS, EINVAL: return false
            default: throw JournalError.io(operation: "fallocate", path: path, errno: errno)
            }
        }
        return true
    }

    static func fsyncDirectory(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw JournalError.io(operation: "fsync", path: path, errno: errno) }
        }
    }
}

/// `flock(2)`. Inside `Sys` the name means `Sys.flock`, and `Glibc.flock` also names `struct flock`.
private func lockFile(_ fd: Int32, _ operation: Int32) -> Int32 {
    flock(fd, operation)
}

/// `stat(2)`, for the same reason as `lockFile`.
private func statPath(_ path: String, _ info: inout stat) -> Int32 {
    stat(path, &info)
}

/// `fallocate(2)`, which Glibc's Swift overlay does not export (it is a GNU extension; `posix_fallocate` cannot
/// keep the size). off_t is 64-bit on the Linux targets we build for.
@_silgen_name("fallocate")
private func linuxFallocate(_ fd: Int32, _ mode: Int32, _ offset: Int64, _ length: Int64) -> Int32
