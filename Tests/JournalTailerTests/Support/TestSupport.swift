import Foundation
import Logging
import RunJournal
import Synchronization
import Testing
@testable import JournalTailer
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TempDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/tailer-test-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno)!) }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Writes, appends, truncates and renames with plain syscalls, as the store does.
enum Disk {
    static func write(_ path: String, _ text: String) throws {
        try put(path, text, flags: O_WRONLY | O_CREAT | O_TRUNC)
    }

    static func append(_ path: String, _ text: String) throws {
        try put(path, text, flags: O_WRONLY | O_APPEND)
    }

    static func truncate(_ path: String, to size: Int64) throws {
        guard Glibc.truncate(path, off_t(size)) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
    }

    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
    }

    static func unlink(_ path: String) throws {
        guard Glibc.unlink(path) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
    }

    static func size(_ path: String) throws -> Int64 {
        try Sys.stat(path).size
    }

    private static func put(_ path: String, _ text: String, flags: Int32) throws {
        let fd = open(path, flags | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else { throw POSIXError(.init(rawValue: errno)!) }
    }
}

/// Waits (without blocking a thread) until `condition` holds, checking every few milliseconds; fails the test
/// after a generous timeout. Tests wait for outcomes this way and never assert on how long they took.
func eventually(_ what: String, timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation,
                _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
    throw CancellationError()
}

/// A subscriber as the stream layer will drive it: count wakes, read until caught up, keep what arrived.
final class Follower: Sendable {
    let subscription: JournalSubscription
    private let wakes: WakeBox
    private let received = LockedValue<(bytes: [UInt8], gone: GoneReason?)>(([], nil))

    init(_ tailer: JournalTailer, _ path: String, from offset: Int64, sync: Bool = false) throws {
        let wakes = WakeBox()
        subscription = try tailer.subscribe(path: path, from: offset, syncBeforePublish: sync) {
            wakes.count.add(1, ordering: .relaxed)
        }
        self.wakes = wakes
    }

    var wakeCount: Int { wakes.count.load(ordering: .relaxed) }

    /// Reads until caught up or gone; checks that every chunk is complete lines contiguous with the last.
    @discardableResult
    func drain(maxBytes: Int = 64 * 1024) throws -> [UInt8] {
        try received.withLock { state in
            while true {
                switch try subscription.read(maxBytes: maxBytes) {
                case .lines(let bytes, let start):
                    #expect(bytes.last == 0x0A, "a read returned a partial line")
                    #expect(start + Int64(bytes.count) == subscription.offset)
                    state.bytes += bytes
                case .caughtUp:
                    return state.bytes
                case .gone(let reason):
                    state.gone = reason
                    return state.bytes
                }
            }
        }
    }

    var text: String { received.withLock { String(decoding: $0.bytes, as: UTF8.self) } }
    var gone: GoneReason? { received.withLock { $0.gone } }

    /// Waits until the received text is `expected` (failing on anything else that is not a prefix of it).
    func waitFor(_ expected: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await eventually("\(expected.debugDescription), have \(text.debugDescription)", sourceLocation: sourceLocation) {
            try drain()
            return text == expected
        }
    }

    func waitForGone(sourceLocation: SourceLocation = #_sourceLocation) async throws -> GoneReason {
        try await eventually("the journal to end", sourceLocation: sourceLocation) {
            try drain()
            return gone != nil
        }
        return gone!
    }
}

final class WakeBox: Sendable {
    let count = Atomic<Int>(0)
}

/// Keeps every log message, so a test can check a fallback is logged once.
final class LogCapture: Sendable {
    private let messages = LockedValue<[String]>([])

    var logger: Logger {
        Logger(label: "tailer-test") { _ in CapturingHandler(capture: self) }
    }

    func record(_ message: String) { messages.withLock { $0.append(message) } }
    func count(containing text: String) -> Int { messages.withLock { $0.filter { $0.contains(text) }.count } }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.record(event.message.description)
        }
    }
}

let testLogger = Logger(label: "tailer-test")

/// Inodes the process's inotify instance watches, from /proc/self/fdinfo (one "inotify wd:" line per watch).
func watchedInodes() -> [UInt64] {
    guard let hub = InotifyHub.existing,
          let info = try? String(contentsOfFile: "/proc/self/fdinfo/\(hub.inotifyFD)", encoding: .utf8) else { return [] }
    return info.split(separator: "\n").filter { $0.hasPrefix("inotify wd:") }.compactMap { line in
        guard let field = line.split(separator: " ").first(where: { $0.hasPrefix("ino:") }) else { return nil }
        return UInt64(field.dropFirst(4), radix: 16)
    }
}

/// Descriptors of this process that are inotify instances.
func inotifyDescriptorsInProcess() throws -> Int {
    let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
    return fds.filter { fd in
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) == "anon_inode:inotify"
    }.count
}
