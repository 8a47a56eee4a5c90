import Foundation
import RunJournal
import Synchronization
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// nginx in front of a `runjournal serve` that a test may `kill -9` and start again on the same journal
/// directory and socket, as a supervisor restarts a crashed service: nginx stays up throughout (it answers
/// 502 while the responder is gone) and the responder's log accumulates across restarts.
final class KillableStack: @unchecked Sendable {
    let directory: TemporaryDirectory
    let journalDirectory: String
    let socketPath: String
    let nginx: WebServerFixture
    private let arguments: [String]
    private let responder: LockedValue<RunJournalProcess>

    /// Starts `runjournal serve --journal <dir>/journal --socket <dir>/rj.sock <flags>` and nginx in front.
    init(_ flags: [String]) throws {
        directory = try TemporaryDirectory(prefix: "kill")
        journalDirectory = try directory.makeDirectory("journal")
        socketPath = directory.file("rj.sock")
        arguments = ["serve", "--journal", journalDirectory, "--socket", socketPath] + flags
        responder = LockedValue(try Self.startResponder(arguments, directory: directory, socketPath: socketPath))
        do {
            nginx = try WebServerFixture.start(.nginx, socketPath: socketPath)
        } catch {
            _ = responder.withLock { $0.stop() }
            throw error
        }
    }

    private static func startResponder(_ arguments: [String], directory: TemporaryDirectory, socketPath: String) throws -> RunJournalProcess {
        let process = try RunJournalProcess(arguments: arguments, directory: directory)
        guard waitUntil(timeout: .seconds(30), { !process.isRunning || UnixSocketProbe.isAccepting(socketPath) }), process.isRunning else {
            process.stop()
            throw ChildProcess.SpawnError(description: "runjournal serve did not start: \(process.stderr.suffix(2000))")
        }
        return process
    }

    var client: E2EClient { E2EClient(port: nginx.port) }

    var responderPID: pid_t { responder.withLock { $0.pid } }
    var isResponderRunning: Bool { responder.withLock { $0.isRunning } }

    /// SIGKILL to the responder (nothing else), then waits until it is gone. False if it had already exited.
    @discardableResult
    func killResponder() -> Bool {
        responder.withLock { process in
            guard process.isRunning else { return false }
            process.signal(SIGKILL)
            _ = process.waitForExit(timeout: .seconds(30))
            return true
        }
    }

    /// Starts a new responder with the same arguments (its stale socket file is replaced) once the old one
    /// is gone; waits until the socket accepts connections.
    func restartResponder() throws {
        try responder.withLock { process in
            if process.isRunning { process.signal(SIGKILL) }
            _ = process.waitForExit(timeout: .seconds(30))
            process = try Self.startResponder(arguments, directory: directory, socketPath: socketPath)
        }
    }

    /// The responder's log (stderr) across every restart.
    var log: String { responder.withLock { $0.stderr } }

    func stop() {
        nginx.stop()
        _ = responder.withLock { $0.stop() }
    }

    deinit {
        stop()
        nginx.directory.remove()
        directory.remove()
    }
}
