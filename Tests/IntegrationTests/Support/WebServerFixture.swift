import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real nginx or lighttpd, started in the foreground from the shipped deploy config (placeholders
/// substituted, nothing else changed) on a free loopback port in its own runtime directory, so any number
/// of tests can run one side by side. `stop()` (or releasing the fixture) shuts it down.
final class WebServerFixture: @unchecked Sendable {
    enum Kind: String, Sendable, CaseIterable {
        case nginx, lighttpd
    }

    struct StartError: Error, CustomStringConvertible {
        let description: String
    }

    let kind: Kind
    let port: Int
    let directory: TemporaryDirectory
    let socketPath: String
    private let process: ChildProcess

    var baseURL: String { "http://127.0.0.1:\(port)" }
    func url(_ path: String) -> String { baseURL + path }

    /// Starts `kind` in front of the FastCGI socket at `socketPath` (which need not exist yet).
    /// `directory` holds the config, logs and temp files (a fresh one by default).
    /// `configEdits`: exact text replacements applied to the shipped config after the placeholders, for a
    /// test that tunes one documented setting (say, nginx's per-client stream cap); each must match.
    static func start(
        _ kind: Kind, socketPath: String, directory: TemporaryDirectory? = nil, configEdits: [(String, String)] = []
    ) throws -> WebServerFixture {
        let directory = try directory ?? TemporaryDirectory(prefix: kind.rawValue)
        var lastError: Error?
        for _ in 0..<5 {  // the free port can be taken between choosing and binding it
            do {
                return try WebServerFixture(
                    kind: kind, socketPath: socketPath, directory: directory, port: LoopbackPort.free(), configEdits: configEdits)
            } catch let error as StartError where error.description.contains("in use") {
                lastError = error
            }
        }
        throw lastError ?? StartError(description: "cannot start \(kind)")
    }

    private init(kind: Kind, socketPath: String, directory: TemporaryDirectory, port: Int, configEdits: [(String, String)]) throws {
        self.kind = kind
        self.port = port
        self.directory = directory
        self.socketPath = socketPath
        let prefix = directory.path
        for sub in ["temp", "htdocs"] { _ = try directory.makeDirectory(sub) }
        let errorLog = directory.file("error.log")
        try? FileManager.default.removeItem(atPath: errorLog)

        let template = try String(contentsOfFile: TestPaths.deploy("\(kind.rawValue).conf"), encoding: .utf8)
        var config = Self.substitute(template, prefix: prefix, socket: socketPath, port: port)
        for (original, replacement) in configEdits {
            guard config.contains(original) else {
                throw StartError(description: "deploy/\(kind.rawValue).conf has no \(original.debugDescription) to edit")
            }
            config = config.replacingOccurrences(of: original, with: replacement)
        }
        let configPath = directory.file("\(kind.rawValue).conf")
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)

        let executable: String
        let arguments: [String]
        switch kind {
        case .nginx:
            guard let nginx = ChildProcess.find("nginx") else { throw StartError(description: "nginx is not installed") }
            executable = nginx
            arguments = ["-p", prefix + "/", "-e", errorLog, "-c", configPath, "-g", "daemon off;"]
        case .lighttpd:
            guard let lighttpd = ChildProcess.find("lighttpd") else { throw StartError(description: "lighttpd is not installed") }
            executable = lighttpd
            arguments = ["-D", "-f", configPath]
        }
        process = try ChildProcess(
            executable: executable, arguments: arguments,
            stdout: .file(directory.file("stdout.log")), stderr: .file(directory.file("stderr.log")))

        let ready = waitUntil(timeout: .seconds(15)) { !process.isRunning || LoopbackPort.isAccepting(port) }
        guard ready, process.isRunning else {
            process.terminate(grace: .seconds(2))
            let log = [errorLog, directory.file("stderr.log")].compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
            throw StartError(description: "\(kind) did not start on port \(port): \(log)")
        }
    }

    /// The template with @PREFIX@, @SOCKET@, @PORT@, @USER@ and @WWW@ (the viewer's files, deploy/www)
    /// replaced, exactly as run.sh does.
    static func substitute(_ template: String, prefix: String, socket: String, port: Int) -> String {
        template
            .replacingOccurrences(of: "@PREFIX@", with: prefix)
            .replacingOccurrences(of: "@SOCKET@", with: socket)
            .replacingOccurrences(of: "@PORT@", with: String(port))
            .replacingOccurrences(of: "@USER@", with: currentUserAndGroup())
            .replacingOccurrences(of: "@WWW@", with: TestPaths.deploy("www"))
    }

    /// "user group" of this process: nginx's workers must reach a socket only this user can open.
    static func currentUserAndGroup() -> String {
        let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? String(geteuid())
        let group = getgrgid(getegid()).map { String(cString: $0.pointee.gr_name) } ?? String(getegid())
        return "\(user) \(group)"
    }

    var errorLog: String { (try? String(contentsOfFile: directory.file("error.log"), encoding: .utf8)) ?? "" }

    func stop() {
        process.terminate(grace: .seconds(5))
    }

    /// `stop()` for async tests.
    func stopped() async {
        await process.terminated(grace: .seconds(5))
    }

    deinit { stop() }
}
