#if canImport(Glibc)
import Glibc
#endif

/// Bytes on their way to a file descriptor, written in large `write(2)`s.
///
/// A value type used as a local variable on purpose: the hot loops (`replay` at GB/s) append to `bytes`
/// directly, with no class indirection or dynamic exclusivity check per line. `StandardOutput` serves the
/// other commands; this one exists for the paths where per-line overhead is the whole cost.
struct OutputBuffer {
    var bytes: [UInt8] = []
    let fd: Int32
    /// Flush once this much is buffered: big enough to amortize syscalls, small enough to stay in cache.
    let threshold: Int

    init(fd: Int32 = 1, threshold: Int = 256 * 1024) {
        self.fd = fd
        self.threshold = threshold
        bytes.reserveCapacity(threshold + 64 * 1024)
    }

    mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }

    @inline(__always)
    mutating func flushIfFull() throws {
        if bytes.count >= threshold { try flush() }
    }

    mutating func flush() throws {
        guard !bytes.isEmpty else { return }
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    // A reader that went away (`| head`) ends the output normally.
                    if errno == EPIPE { throw CLIFailure("stdout closed", exitCode: 0) }
                    throw CLIFailure("cannot write to stdout: \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
        bytes.removeAll(keepingCapacity: true)
    }
}
