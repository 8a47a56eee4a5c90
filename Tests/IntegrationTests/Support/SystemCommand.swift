import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A system tool (mount, losetup, mkfs.ext4, ...) run to completion by the disk-fault fixtures, with its
/// output kept for the error message: when a fixture step fails, the test says which command and why.
enum SystemCommand {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `name arguments` (found on PATH or in the sbin directories); its stdout. Throws with the exit
    /// status and stderr when it does not exit 0 within `timeout`.
    @discardableResult
    static func run(_ name: String, _ arguments: [String], timeout: Duration = .seconds(120)) throws -> String {
        guard let executable = ChildProcess.find(name) else { throw Failure(description: "\(name) is not installed") }
        let directory = try TemporaryDirectory(prefix: "cmd")
        let process = try ChildProcess(
            executable: executable, arguments: arguments,
            stdout: .file(directory.file("stdout")), stderr: .file(directory.file("stderr")))
        let status = process.wait(timeout: timeout)
        let stdout = (try? String(contentsOfFile: directory.file("stdout"), encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: directory.file("stderr"), encoding: .utf8)) ?? ""
        guard let status else {
            process.terminate()
            throw Failure(description: "\(name) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        guard ChildProcess.exitCode(status) == 0 else {
            throw Failure(description: "\(name) \(arguments.joined(separator: " ")) failed (status \(status)): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return stdout
    }
}
