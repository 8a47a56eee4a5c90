#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// Test seam: makes the store's writing system calls fail, the way a failing disk does, so every failure path
/// (a failed sync with eight appenders waiting, a short write in the middle of a batch, a failed rename) can
/// be unit-tested. Production stores use `StoreFaults()`, which injects nothing; the real calls are always
/// made when `decide` returns nil.
public struct StoreFaults: Sendable {
    /// The calls that can be made to fail.
    public enum Operation: String, Sendable {
        case write, ftruncate, fdatasync, fallocate, rename, link
    }

    /// What happens instead of the call.
    public enum Fault: Sendable, Equatable {
        /// The call fails with this errno and does nothing.
        case fail(errno: Int32)
        /// (write only) The first `bytes` bytes are written for real, then the call fails with `errno`.
        case shortWrite(bytes: Int, errno: Int32)
    }

    let decide: @Sendable (Operation, String) -> Fault?

    /// `decide` is asked before each call with the operation and the path; nil makes the real call.
    public init(_ decide: @escaping @Sendable (Operation, String) -> Fault? = { _, _ in nil }) {
        self.decide = decide
    }

    func fault(_ operation: Operation, _ path: String) -> Fault? { decide(operation, path) }
}

/// The store's writing calls with the fault seam in front of them. Reads are not faulted: a failing disk is
/// about writes that do not reach it.
struct JournalIO: Sendable {
    let faults: StoreFaults
    /// Where the store's counters and timings go (the sync timing is taken here, around the real call).
    var metrics = StoreMetrics()

    func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        switch faults.fault(.write, path) {
        case .fail(let code)?:
            throw JournalError.io(operation: "write", path: path, errno: code)
        case .shortWrite(let count, let code)?:
            try asJournalError { try Sys.writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes[..<min(count, bytes.count)]), path: path) }
            throw JournalError.io(operation: "write", path: path, errno: code)
        case nil:
            try asJournalError { try Sys.writeAll(fd, bytes, path: path) }
        }
    }

    func ftruncate(_ fd: Int32, _ length: Int64, path: String) throws {
        if case .fail(let code)? = faults.fault(.ftruncate, path) { throw JournalError.io(operation: "ftruncate", path: path, errno: code) }
        try asJournalError { try Sys.ftruncate(fd, length, path: path) }
    }

    func fdatasync(_ fd: Int32, path: String) throws {
        if case .fail(let code)? = faults.fault(.fdatasync, path) { throw JournalError.io(operation: "fdatasync", path: path, errno: code) }
        let start = ConditionLock.monotonicNanos()
        defer { metrics.fsyncDuration.recordNanoseconds(Int64(ConditionLock.monotonicNanos() &- start)) }
        try asJournalError { try Sys.fdatasync(fd, path: path) }
    }

    func fsyncDirectory(_ path: String) throws {
        if case .fail(let code)? = faults.fault(.fdatasync, path) { throw JournalError.io(operation: "fsync", path: path, errno: code) }
        try asJournalError { try Sys.fsyncDirectory(path) }
    }

    /// Reserves `[offset, offset + length)` without changing the file size, so a full disk is reported before a
    /// byte of the batch is written. False where the filesystem cannot preallocate (nothing is reserved then).
    func reserve(_ fd: Int32, offset: Int64, length: Int64, path: String) throws -> Bool {
        if case .fail(let code)? = faults.fault(.fallocate, path) { throw JournalError.io(operation: "fallocate", path: path, errno: code) }
        return try asJournalError { try Sys.reserve(fd, offset: offset, length: length, path: path) }
    }

    func rename(_ from: String, _ to: String) throws {
        if case .fail(let code)? = faults.fault(.rename, to) { throw JournalError.io(operation: "rename", path: to, errno: code) }
        guard Glibc.rename(from, to) == 0 else { throw JournalError.io(operation: "rename", path: to, errno: errno) }
    }

    /// `link(2)`; returns the errno instead of throwing so the caller can tell EEXIST apart.
    func link(_ from: String, _ to: String) -> Int32 {
        if case .fail(let code)? = faults.fault(.link, to) { return code }
        return Glibc.link(from, to) == 0 ? 0 : errno
    }
}
