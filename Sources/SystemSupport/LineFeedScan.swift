#if canImport(Glibc)
import Glibc
#endif

/// Where complete lines end in raw bytes: the one backwards scan for '\n' (memrchr) behind "the last complete
/// line" of the store's tail recovery, the commit rule's backwards walk, `tail -n` and the tailer's catch-up.
public enum LineFeedScan {
    /// The index of the last '\n' in `bytes[..<end]`, or nil when there is none.
    public static func lastLineFeed(in bytes: UnsafeRawBufferPointer, before end: Int) -> Int? {
        precondition(end >= 0 && end <= bytes.count, "end outside the buffer")
        guard end > 0, let base = bytes.baseAddress, let found = memrchr(base, 0x0A, end) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    /// The index of the last '\n' in `bytes`, or nil.
    public static func lastLineFeed(in bytes: UnsafeRawBufferPointer) -> Int? {
        lastLineFeed(in: bytes, before: bytes.count)
    }

    /// The index (in `bytes`' own indices) of the last '\n' of a byte array slice, or nil.
    public static func lastLineFeed(in bytes: ArraySlice<UInt8>) -> Int? {
        bytes.withUnsafeBytes { raw in lastLineFeed(in: raw).map { bytes.startIndex + $0 } }
    }

    /// The index of the last '\n' of a byte array, or nil.
    public static func lastLineFeed(in bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBytes { raw in lastLineFeed(in: raw) }
    }
}

/// `memrchr(3)`, a GNU extension Glibc's Swift overlay does not export.
@_silgen_name("memrchr")
private func memrchr(_ bytes: UnsafeRawPointer, _ byte: Int32, _ count: Int) -> UnsafeMutableRawPointer?
