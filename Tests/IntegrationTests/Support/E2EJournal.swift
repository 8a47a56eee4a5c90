import Foundation
import RunJournal
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A journal line as stored: `{"seq":N,"ts":"…","type":"T","data":D}` cut at its fixed envelope, so tests
/// compare the exact bytes the stream must carry (`data:` is D verbatim).
struct E2EJournalLine: Equatable {
    var seq: Int64
    var type: String
    var data: String
    var line: String

    /// Every complete line of `run`'s journal in `directory` (empty when there is no journal).
    static func read(_ directory: String, _ run: String) -> [E2EJournalLine] {
        guard let text = try? String(contentsOfFile: "\(directory)/\(run).jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { parse(String($0)) }
    }

    static func parse(_ line: String) -> E2EJournalLine? {
        guard line.hasPrefix(#"{"seq":"#), line.hasSuffix("}"),
            let typeStart = line.range(of: #","type":""#),
            let typeEnd = line[typeStart.upperBound...].firstIndex(of: "\""),
            // Optional keys ("more", "idempotency") may stand between type and data.
            let dataStart = line.range(of: #","data":"#, range: typeEnd..<line.endIndex)
        else { return nil }
        let seqText = line[line.index(line.startIndex, offsetBy: 7)...].prefix { $0.isNumber }
        guard let seq = Int64(seqText) else { return nil }
        let type = String(line[typeStart.upperBound..<typeEnd])
        let data = String(line[dataStart.upperBound..<line.index(before: line.endIndex)])
        return E2EJournalLine(seq: seq, type: type, data: data, line: line)
    }

    /// The line's `ts`, as written.
    var ts: String {
        guard let start = line.range(of: #","ts":""#) else { return "" }
        return String(line[start.upperBound...].prefix { $0 != "\"" })
    }

    /// The SSE frame the stream sends for this line of a run of that incarnation, byte for byte.
    func frame(incarnation: String) -> String { "id: \(seq).\(incarnation)\nevent: \(type)\ndata: \(data)\n\n" }

    /// The run's incarnation as event ids carry it: the ts of its `run.created` in milliseconds, lowercase
    /// base 36 (written out here independently of the server's code, as a client would).
    static func incarnation(_ directory: String, _ run: String) -> String {
        guard let first = read(directory, run).first, let tsRange = first.line.range(of: #""ts":""#) else { return "?" }
        let ts = first.line[tsRange.upperBound...].prefix { $0 != "\"" }
        guard let millis = Timestamp.parse(Array(ts.utf8)) else { return "?" }
        return String(millis, radix: 36)
    }

    /// `data` parsed as a JSON object.
    var dataObject: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] }
}

/// Every regular file under a directory with its exact bytes: two snapshots are equal only if no file was
/// created, removed, renamed or changed by a single byte.
struct E2EDirectorySnapshot: Equatable, CustomStringConvertible {
    var files: [String: [UInt8]]

    /// Snapshots `directory`, leaving out relative paths for which `excluding` is true (logs that change
    /// whatever happens).
    init(_ directory: String, excluding: (String) -> Bool = { _ in false }) throws {
        var files: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let relative = enumerator?.nextObject() as? String {
            if excluding(relative) { continue }
            let path = "\(directory)/\(relative)"
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFREG: files[relative] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            case S_IFDIR: files[relative + "/"] = []
            case S_IFSOCK: continue  // the responder's own socket
            default: files[relative + " (special)"] = []
            }
        }
        self.files = files
    }

    var description: String {
        files.keys.sorted().map { "\($0) (\(files[$0]!.count) bytes, \(fnv1a(files[$0]!)))" }.joined(separator: ", ")
    }

    /// A short digest for messages: FNV-1a 64 of the bytes.
    private func fnv1a(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// What /proc says about a process: the only way to observe threads, descriptors and read syscalls of
/// the responder from outside without slowing it down (strace would perturb exactly what is measured).
enum E2EProc {
    /// `Threads:` of /proc/PID/status.
    static func threads(_ pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("Threads:") }
            .flatMap { Int($0.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces)) }
    }

    /// The targets of /proc/PID/fd/* (`socket:[…]`, `anon_inode:inotify`, paths, …).
    static func descriptorTargets(_ pid: pid_t) -> [String] {
        let directory = "/proc/\(pid)/fd"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)") }
    }

    /// Context switches of all of the process's threads (voluntary + involuntary, from
    /// /proc/PID/task/*/status): how often any thread woke up. A thread that polls wakes on every tick.
    static func contextSwitches(_ pid: pid_t) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var total = 0
        for task in tasks {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else { continue }
            for line in status.split(separator: "\n") where line.contains("ctxt_switches:") {
                total += Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
            }
        }
        return total
    }

    /// /proc/PID/io as numbers (`rchar`, `syscr`, `read_bytes`, …).
    static func io(_ pid: pid_t) -> [String: Int] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/io", encoding: .utf8) else { return [:] }
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":")
            if parts.count == 2, let value = Int(parts[1].trimmingCharacters(in: .whitespaces)) {
                values[String(parts[0])] = value
            }
        }
        return values
    }
}

/// Polls `condition` until it holds or `timeout` passes, sleeping with `Task.sleep` between checks so the
/// test's thread stays free for the tests running beside it.
@discardableResult
func e2eWait(timeout: Duration, every interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}

/// Runs the built `runjournal` CLI to completion: its exit code and stdout.
func e2eRunCLI(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> (code: Int32?, stdout: String, stderr: String) {
    let process = try RunJournalProcess(arguments: arguments)
    _ = await e2eWait(timeout: timeout) { !process.isRunning }
    let code = process.waitForExit(timeout: .seconds(1))
    return (code, process.stdout, process.stderr)
}
