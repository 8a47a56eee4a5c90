import Foundation
import Testing

@testable import RunJournal
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

// Helpers shared by the store's tests: real files in a fresh temporary directory, a clock the test moves by
// hand, and byte-level access to journals so tests can write damaged files the store would never write.

/// A fresh directory under the system temp dir, removed when the value goes away.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    /// A directory under `parent` (default: the system temp dir).
    init(_ label: String = "store", parent: String? = nil) {
        let base = parent ?? NSTemporaryDirectory()
        let parent = base.hasSuffix("/") ? String(base.dropLast()) : base
        var template = Array("\(parent)/runjournal-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: \(String(cString: strerror(errno)))")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    /// Names in the directory, sorted (hidden ones included).
    func names() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// Every file's name and bytes: to prove an operation that failed wrote nothing.
    func snapshot() -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        for name in names() { result[name] = readBytes(file(name)) }
        return result
    }
}

/// A clock that only moves when told to (and may be moved backwards, to test that `ts` never decreases).
final class ManualClock: WallClock {
    private let millis: LockedValue<Int64>

    init(_ start: Int64 = 1_795_568_523_456) { millis = LockedValue(start) }

    func nowMillis() -> Int64 { millis.withLock { $0 } }
    func advance(by delta: Int64 = 1) { millis.withLock { $0 += delta } }
    func set(_ value: Int64) { millis.withLock { $0 = value } }
}

func readBytes(_ path: String) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    return [UInt8](data)
}

func readText(_ path: String) -> String { String(decoding: readBytes(path), as: UTF8.self) }

func writeBytes(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "open \(path): \(String(cString: strerror(errno)))")
    defer { close(fd) }
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
            precondition(written > 0, "write \(path) failed")
            offset += written
        }
    }
}

func writeText(_ path: String, _ text: String) { writeBytes(path, Array(text.utf8)) }

/// Appends raw bytes by hand, as a crashed writer (or another tool) would leave them.
func appendBytes(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_APPEND)
    precondition(fd >= 0, "open \(path): \(String(cString: strerror(errno)))")
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
    precondition(written == bytes.count, "short write to \(path)")
}

func appendText(_ path: String, _ text: String) { appendBytes(path, Array(text.utf8)) }

func removeFile(_ path: String) throws {
    guard unlink(path) == 0 else { throw JournalError.io(operation: "unlink", path: path, errno: errno) }
}

func makeDirectory(_ path: String) throws {
    guard mkdir(path, 0o755) == 0 else { throw JournalError.io(operation: "mkdir", path: path, errno: errno) }
}

func fileSize(_ path: String) -> Int64 {
    var info = stat()
    precondition(stat(path, &info) == 0, "stat \(path) failed")
    return Int64(info.st_size)
}

/// The journal's complete lines as strings (without `\n`); a torn tail is dropped.
func journalLines(_ path: String) -> [String] {
    var lines = readText(path).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    lines.removeLast()  // after the last "\n": empty, or a torn tail
    return lines
}

/// Builds one well-formed line with the store's own formatter.
func line(_ seq: Int64, _ millis: Int64, _ type: String, _ data: String = "{}") -> String {
    var out = [UInt8]()
    EventLine.append(seq: seq, millis: millis, type: try! EventType(type), compactData: Array(data.utf8), to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// A store on `directory` with a manual clock and, unless a test is about syncing, no fsync (fast).
func makeStore(
    _ directory: TemporaryDirectory, clock: ManualClock = ManualClock(), fsync: FsyncPolicy = .never
) throws -> JournalStore {
    try JournalStore(directory: directory.path, fsyncPolicy: fsync, clock: clock)
}

func event(_ type: String, _ json: String = "{}") throws -> NewEvent {
    try NewEvent(type: try EventType(type), json: Array(json.utf8))
}

func runID(_ text: String) -> RunID { try! RunID(text) }

/// The error `body` throws as a `JournalError` (nil when it does not throw; a test failure for another type).
func journalError<T>(_ body: () throws -> T) -> JournalError? {
    do {
        _ = try body()
        return nil
    } catch let error as JournalError {
        return error
    } catch {
        Issue.record("expected a JournalError, got \(error)")
        return nil
    }
}

/// Every seq the reader yields from `offset`, with the offset it returns.
func readSeqs(_ journal: OpenJournal, from offset: Int64 = 0) throws -> (seqs: [Int64], end: Int64) {
    var seqs: [Int64] = []
    let end = try journal.forEachLine(from: offset) { line in
        seqs.append(line.seq)
        return true
    }
    return (seqs, end)
}

/// A mutable value a non-escaping or locked closure can write to.
final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Runs `body(index)` on `count` real threads at once and waits for all of them.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchGroup()
    let start = DispatchSemaphore(value: 0)
    for index in 0..<count {
        done.enter()
        let thread = Thread {
            start.wait()
            body(index)
            done.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    for _ in 0..<count { start.signal() }
    done.wait()
}
