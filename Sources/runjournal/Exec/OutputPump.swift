import RunJournal
import Synchronization
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// Reads one of the child's pipes on its own thread until end of file, and hands each read's lines to the
/// appender together (so output that arrives together is appended together).
///
/// A grandchild may keep the pipe open after the child has ended; `abandon()` makes the pump stop at the
/// next poll instead of waiting for an end of file that may never come.
final class OutputPump: Sendable {
    private let fd: Int32
    private let stream: OutputEventMapper.Stream
    private let appender: BatchAppender
    private let done = Atomic<Bool>(false)
    private let abandoned = Atomic<Bool>(false)

    init(fd: Int32, stream: OutputEventMapper.Stream, appender: BatchAppender) {
        self.fd = fd
        self.stream = stream
        self.appender = appender
    }

    var isDone: Bool { done.load(ordering: .acquiring) }

    func abandon() { abandoned.store(true, ordering: .releasing) }

    func start() throws {
        try startDetachedThread(name: "rj-exec-read", stackSize: 256 * 1024) { [self] in run() }
    }

    private func run() {
        var splitter = OutputLineSplitter()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        reading: while !abandoned.load(ordering: .acquiring) {
            let ready = poll(&poller, 1, 200)
            if ready == 0 { continue }
            if ready < 0 { if errno == EINTR { continue } else { break } }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if count < 0 { if errno == EINTR || errno == EAGAIN { continue } else { break reading } }
            if count == 0 { break }
            let pieces = buffer.withUnsafeBytes { splitter.pieces(in: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            appender.enqueue(pieces.map { OutputEventMapper.event(for: $0, from: stream) })
        }
        appender.enqueue(splitter.finish().map { OutputEventMapper.event(for: $0, from: stream) })
        close(fd)
        done.store(true, ordering: .releasing)
    }
}
