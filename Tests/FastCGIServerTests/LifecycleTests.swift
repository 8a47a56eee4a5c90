import Foundation
import Logging
import Testing
import RunsAPI
@testable import FastCGIServer
#if canImport(Glibc)
import Glibc
#endif

/// Starting, refusing to start, and stopping.
@Suite struct LifecycleTests {
    private var logger: Logger {
        var logger = Logger(label: "test.lifecycle")
        logger.logLevel = .critical
        return logger
    }

    private func configuration(_ listen: FastCGIServerConfiguration.Listen) -> FastCGIServerConfiguration {
        var configuration = FastCGIServerConfiguration(listen: listen)
        configuration.handlesSignals = false
        return configuration
    }

    /// Leaves a socket file behind the way a killed process does: bound, then closed without unlink.
    private func makeStaleSocket(at path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = try UnixAddress(path: path)
        #expect(address.bind(fd) == 0)
        #expect(listen(fd, 1) == 0)
        close(fd)
    }

    @Test func replacesAStaleSocketFile() async throws {
        let directory = try TemporaryDirectory(prefix: "stale")
        let path = directory.file("rj.sock")
        try makeStaleSocket(at: path)
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(!UnixSocketProbe.isAccepting(path))

        let harness = try ServerHarnessAtPath(path: path)
        defer { harness.shutdown() }
        let nginx = try WebServerFixture.start(.nginx, socketPath: path)
        defer { nginx.stop() }
        #expect(try await HTTPClient.fetch(nginx.url("/v1/runs")).status == 200)
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o660)
    }

    @Test func refusesASocketAnotherServerIsListeningOn() async throws {
        let directory = try TemporaryDirectory(prefix: "live")
        let path = directory.file("rj.sock")
        let first = try ServerHarnessAtPath(path: path)
        defer { first.shutdown() }
        #expect(await pollUntil(timeout: .seconds(5)) { UnixSocketProbe.isAccepting(path) })
        do {
            _ = try FastCGIServer(configuration: configuration(.unixSocket(path: path)), handler: ClosureHandler(echoResponse), logger: logger)
            Issue.record("a second server started on a live socket")
        } catch let error as FastCGIServerError {
            #expect(error.kind == .socketInUse)
            #expect(error.description.contains(path))
        }
        // The running server's socket was left alone.
        #expect(UnixSocketProbe.isAccepting(path))
    }

    @Test func refusesToReplaceAFileThatIsNotASocket() async throws {
        let directory = try TemporaryDirectory(prefix: "file")
        let path = directory.file("rj.sock")
        try "precious".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: FastCGIServerError.self) {
            _ = try FastCGIServer(configuration: configuration(.unixSocket(path: path)), handler: ClosureHandler(echoResponse), logger: logger)
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious")
    }

    @Test func refusesASocketPathTooLongForSockaddrUn() {
        let path = "/tmp/" + String(repeating: "x", count: 120)
        do {
            _ = try FastCGIServer(configuration: configuration(.unixSocket(path: path)), handler: ClosureHandler(echoResponse), logger: logger)
            Issue.record("accepted a path that does not fit")
        } catch let error as FastCGIServerError {
            #expect(error.kind == .socketPathTooLong)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// One test for both cases: they share the process's fd 0 and must not run concurrently.
    @Test func servesTheListeningSocketInheritedOnFdZeroAndExplainsWhenThereIsNone() async throws {
        // The test runner's stdin is a terminal, /dev/null or a pipe: never a listening socket.
        do {
            _ = try FastCGIServer(configuration: configuration(.inheritedFD0), handler: ClosureHandler(echoResponse), logger: logger)
            Issue.record("fd 0 was taken for a listening socket")
        } catch let error as FastCGIServerError {
            #expect(error.kind == .noInheritedSocket)
            #expect(error.description.contains("--socket"))
        }

        // What spawn-fcgi and systemd (StandardInput=socket) do: the listening socket is fd 0.
        let directory = try TemporaryDirectory(prefix: "fd0")
        let path = directory.file("rj.sock")
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = try UnixAddress(path: path)
        #expect(address.bind(listener) == 0)
        #expect(listen(listener, 16) == 0)
        let savedStdin = dup(0)
        #expect(dup2(listener, 0) == 0)
        close(listener)
        defer {
            dup2(savedStdin, 0)
            close(savedStdin)
        }

        let server = try FastCGIServer(configuration: configuration(.inheritedFD0), handler: ClosureHandler(echoResponse), logger: logger)
        let returned = Gate()
        let thread = Thread {
            try? server.run()
            returned.open()
        }
        thread.start()
        let nginx = try WebServerFixture.start(.nginx, socketPath: path)
        defer { nginx.stop() }
        let result = try await HTTPClient.fetch(nginx.url("/v1/runs/inherited?x=1"))
        #expect(result.status == 200)
        #expect((result.json as? [String: Any])?["path"] as? String == "/v1/runs/inherited")
        server.stop()
        #expect(await returned.opened(within: .seconds(15)))
        // The inherited socket belongs to the supervisor: still open and listening after the stop.
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        #expect(getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0)
        #expect(accepting == 1)
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test func removesItsSocketFileWhenItStops() async throws {
        let directory = try TemporaryDirectory(prefix: "gone")
        let path = directory.file("rj.sock")
        let harness = try ServerHarnessAtPath(path: path)
        #expect(await pollUntil(timeout: .seconds(5)) { UnixSocketProbe.isAccepting(path) })
        harness.shutdown()
        #expect(harness.returned)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func stopBeforeRunMakesRunReturnAtOnceAndRunTwiceIsAnError() async throws {
        let directory = try TemporaryDirectory(prefix: "twice")
        let server = try FastCGIServer(
            configuration: configuration(.unixSocket(path: directory.file("rj.sock"))), handler: ClosureHandler(echoResponse), logger: logger)
        server.stop()
        try server.run()
        #expect(throws: FastCGIServerError.self) { try server.run() }
    }

    @Test func listensOnAnEphemeralTCPPort() async throws {
        let server = try FastCGIServer(configuration: configuration(.tcp(host: "127.0.0.1", port: 0)), handler: ClosureHandler(echoResponse), logger: logger)
        let port = try #require(server.boundPort)
        #expect(port > 0)
        #expect(LoopbackPort.isAccepting(port))
    }

    @Test func rejectsOutOfRangeConfiguration() {
        var tooSmall = configuration(.unixSocket(path: "/tmp/x.sock"))
        tooSmall.workerStackSize = 16 * 1024
        #expect(throws: FastCGIServerError.self) {
            _ = try FastCGIServer(configuration: tooSmall, handler: ClosureHandler(echoResponse), logger: logger)
        }
    }

    @Test func sigtermStopsAServerThatHandlesSignals() async throws {
        let directory = try TemporaryDirectory(prefix: "sig")
        let path = directory.file("rj.sock")
        var config = configuration(.unixSocket(path: path))
        config.handlesSignals = true
        let server = try FastCGIServer(configuration: config, handler: ClosureHandler(echoResponse), logger: logger)
        let returned = Gate()
        let thread = Thread {
            try? server.run()
            returned.open()
        }
        thread.start()
        let nginx = try WebServerFixture.start(.nginx, socketPath: path)
        defer { nginx.stop() }
        // A served request proves run() is past installing its signal handlers (they precede accepting).
        #expect(try await HTTPClient.fetch(nginx.url("/v1/runs")).status == 200)
        kill(getpid(), SIGTERM)
        #expect(await returned.opened(within: .seconds(15)))
        // With no server subscribed any more, the default disposition is back.
        var action = sigaction()
        sigaction(SIGTERM, nil, &action)
        #expect(action.__sigaction_handler.sa_handler == nil)  // SIG_DFL
    }
}

/// A started server at a given socket path, without a web server in front.
final class ServerHarnessAtPath: @unchecked Sendable {
    let server: FastCGIServer
    private let finished = Gate()

    init(path: String) throws {
        var configuration = FastCGIServerConfiguration(listen: .unixSocket(path: path))
        configuration.handlesSignals = false
        var logger = Logger(label: "test.lifecycle")
        logger.logLevel = .critical
        server = try FastCGIServer(configuration: configuration, handler: ClosureHandler { _ in .json(200, Array("{}".utf8)) }, logger: logger)
        let thread = Thread { [server, finished] in
            try? server.run()
            finished.open()
        }
        thread.start()
    }

    var returned: Bool { finished.opened }

    func shutdown() {
        server.stop()
        finished.wait(timeout: .seconds(15))
    }
}
