#if canImport(Glibc)
import Glibc
#endif
import RunJournal

/// Bytes on their way to a file descriptor, written in large `write(2)`s.
///
/// Exists for the hot loops (`replay` at GB/s): appends are plain `memcpy`s into one fixed allocation, and
/// an SSE frame is formatted straight into it (`withSpace`), with no growable array, no per-line
/// allocation and no reference counting per append. A struct used as a local variable, so the loops'
/// closures mutate it without dynamic exclusivity checks. `StandardOutput` serves the other commands.
struct OutputBuffer {
    private final class Storage {
        let base: UnsafeMutableRawPointer
        init(capacity: Int) { base = .allocate(byteCount: capacity, alignment: 16) }
        deinit { base.deallocate() }
    }

    private let storage: Storage
    private let capacity: Int
    private(set) var count = 0
    let fd: Int32
    /// Flush once this much is buffered: big enough to amortize syscalls, small enough to stay in cache.
    let threshold: Int

    init(fd: Int32 = 1, threshold: Int = 256 * 1024) {
        self.fd = fd
        self.threshold = threshold
        capacity = threshold + 64 * 1024
        storage = Storage(capacity: capacity)
    }

    /// Lets `body` write up to `size` bytes at the end of the buffer; it returns how many it wrote. A write
    /// larger than the whole buffer (one huge event) goes through a temporary allocation of its own.
    @inline(__always)
    mutating func withSpace(_ size: Int, _ body: (UnsafeMutableRawPointer) -> Int) throws {
        if count + size > capacity { try flush() }
        if size > capacity {
            let temporary = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            defer { temporary.deallocate() }
            let written = body(temporary)
            try Self.writeAll(fd, UnsafeRawBufferPointer(start: temporary, count: written))
            return
        }
        count += body(storage.base + count)
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        try withSpace(bytes.count) { destination in
            destination.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            return bytes.count
        }
    }

    mutating func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    @inline(__always)
    mutating func append(_ literal: StaticString) throws {
        try append(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func append(byte: UInt8) throws {
        try withSpace(1) { destination in
            destination.storeBytes(of: byte, as: UInt8.self)
            return 1
        }
    }

    mutating func append(_ text: String) throws {
        var text = text
        try text.withUTF8 { try append(UnsafeRawBufferPointer($0)) }
    }

    /// `value` in decimal, padded with spaces on the right to `width` characters.
    mutating func append(decimal value: Int64, paddedTo width: Int = 0) throws {
        let digits = DecimalText.count(value)
        try withSpace(max(digits, width) + 1) { destination in
            DecimalText.write(value, to: destination)
            for offset in digits..<max(digits, width) { destination.storeBytes(of: UInt8(ascii: " "), toByteOffset: offset, as: UInt8.self) }
            return max(digits, width)
        }
    }

    @inline(__always)
    mutating func flushIfFull() throws {
        if count >= threshold { try flush() }
    }

    mutating func flush() throws {
        guard count > 0 else { return }
        try Self.writeAll(fd, UnsafeRawBufferPointer(start: storage.base, count: count))
        count = 0
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                // A reader that went away (`| head`) ends the output normally.
                if errno == EPIPE { throw CLIFailure("stdout closed", exitCode: 0) }
                throw CLIFailure("cannot write to stdout: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }
}
