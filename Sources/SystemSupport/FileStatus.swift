#if canImport(Glibc)
import Glibc
#endif

/// The parts of `struct stat` the store and the tailer reason about, with names that say what they are.
public struct FileStatus: Equatable, Sendable {
    public var device: UInt64
    public var inode: UInt64
    public var linkCount: UInt64
    public var size: Int64
    /// `st_mode`: the file type bits and the permission bits.
    public var mode: mode_t
    /// `st_mtim` in milliseconds since the epoch.
    public var modifiedMillis: Int64

    public init(_ raw: stat) {
        device = UInt64(raw.st_dev)
        inode = UInt64(raw.st_ino)
        linkCount = UInt64(raw.st_nlink)
        size = Int64(raw.st_size)
        mode = raw.st_mode
        modifiedMillis = Int64(raw.st_mtim.tv_sec) * 1000 + Int64(raw.st_mtim.tv_nsec) / 1_000_000
    }

    public var isRegularFile: Bool { (mode & S_IFMT) == S_IFREG }
    public var isDirectory: Bool { (mode & S_IFMT) == S_IFDIR }
    /// The permission bits (`rwxrwxrwx`), without the file type.
    public var permissions: mode_t { mode & 0o777 }

    /// Same file (device and inode), whatever its size or link count.
    public func isSameFile(as other: FileStatus) -> Bool {
        device == other.device && inode == other.inode
    }
}
