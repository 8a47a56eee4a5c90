import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The built `runjournal` binary running as a subprocess (`runjournal serve ...` or any other command),
/// with its output captured in files and a SIGTERM stop, as a supervisor would do it.
final class RunJournalProcess: @unchecked Sendable {
    let directory: TemporaryDirectory
    let arguments: [String]
    private let process: ChildProcess

    /// Starts `runjournal <arguments>` with `workingDirectory` (default: the fixture's directory), reading
    /// standard input from the file `stdin`.
    init(arguments: [String], directory: TemporaryDirectory? = nil, workingDirectory: String? = nil,
         environment: [String: String]? = nil, stdin: String = "/dev/null") throws {
        self.directory = try directory ?? TemporaryDirectory(prefix: "rjd")
        self.arguments = arguments
        process = try ChildProcess(
            executable: TestPaths.runjournalBinary(), arguments: arguments, environment: environment,
            workingDirectory: workingDirectory ?? self.directory.path, stdin: stdin,
            stdout: .file(self.directory.file("stdout.log")), stderr: .file(self.directory.file("stderr.log")))
    }

    /// Starts `runjournal serve --journal <dir>/journal --socket <dir>/rj.sock <extra>` and waits until the
    /// socket accepts connections.
    static func serve(extraArguments: [String] = [], directory: TemporaryDirectory? = nil) throws -> RunJournalProcess {
        let directory = try directory ?? TemporaryDirectory(prefix: "rjd")
        let journal = try directory.makeDirectory("journal")
        let socket = directory.file("rj.sock")
        let server = try RunJournalProcess(
            arguments: ["serve", "--journal", journal, "--socket", socket] + extraArguments, directory: directory)
        guard waitUntil(timeout: .seconds(20), { !server.isRunning || UnixSocketProbe.isAccepting(socket) }), server.isRunning else {
            server.stop()
            throw ChildProcess.SpawnError(description: "runjournal serve did not start: \(server.stderr)")
        }
        return server
    }

    var pid: pid_t { process.pid }
    var socketPath: String { directory.file("rj.sock") }
    var journalDirectory: String { directory.file("journal") }
    var isRunning: Bool { process.isRunning }
    var stdout: String { (try? String(contentsOfFile: directory.file("stdout.log"), encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: directory.file("stderr.log"), encoding: .utf8)) ?? "" }

    func signal(_ signo: Int32) { process.signal(signo) }

    /// Waits for the process to exit on its own; its exit code (nil: still running, or killed by a signal).
    func waitForExit(timeout: Duration) -> Int32? {
        process.wait(timeout: timeout).flatMap(ChildProcess.exitCode)
    }

    /// SIGTERM, then waits up to `grace` (SIGKILL after that). Returns the exit code if it exited normally.
    @discardableResult
    func stop(grace: Duration = .seconds(15)) -> Int32? {
        process.terminate(grace: grace).flatMap(ChildProcess.exitCode)
    }

    deinit { process.terminate(grace: .seconds(5)) }
}

/// Connect-only checks of unix sockets.
enum UnixSocketProbe {
    static func isAccepting(_ path: String) -> Bool {
        guard let fd = connect(path) else { return false }
        close(fd)
        return true
    }

    /// A connected socket to `path` (the caller closes it), or nil.
    static func connect(_ path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            return nil
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            return nil
        }
        return fd
    }
}
