#if canImport(Glibc)
import Glibc
#endif

/// A failure to report as one line on stderr with a chosen exit code (1 unless said otherwise).
struct CLIFailure: Error {
    var message: String
    var exitCode: Int32 = 1

    init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    /// A usage problem found after parsing (exit 2).
    static func usage(_ message: String) -> CLIFailure { CLIFailure(message, exitCode: 2) }
}

func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = write(2, raw.baseAddress! + offset, raw.count - offset)
            if written <= 0 { if errno == EINTR { continue } else { return } }
            offset += written
        }
    }
}

/// Buffered standard output: one `write(2)` per 64 KiB instead of per line (replay writes GB/s).
final class StandardOutput {
    private var buffer: [UInt8] = []
    private let capacity: Int

    init(capacity: Int = 64 * 1024) {
        self.capacity = capacity
        buffer.reserveCapacity(capacity)
    }

    func write(_ bytes: some Collection<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= capacity { try flush() }
    }

    func write(_ text: String) throws { try write(text.utf8) }

    func flush() throws {
        var offset = 0
        try buffer.withUnsafeBytes { raw in
            while offset < raw.count {
                let written = Glibc.write(1, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    // A closed pipe (`| head`) is a normal end for a command that prints.
                    if errno == EPIPE { throw CLIFailure("stdout closed", exitCode: 0) }
                    throw CLIFailure("cannot write to stdout: \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

