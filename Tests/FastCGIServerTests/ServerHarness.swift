import FastCGIServer
import Foundation
import Logging
import RunsAPI
#if canImport(Glibc)
import Glibc
#endif

/// An `HTTPHandler` made of a closure, for tests.
struct ClosureHandler: HTTPHandler {
    let body: @Sendable (HTTPRequest) -> HTTPResponse

    init(_ body: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        self.body = body
    }

    func handle(_ request: HTTPRequest) -> HTTPResponse { body(request) }
}

/// A one-shot latch: `open()` once, `wait(timeout:)` from any number of threads. The seam tests use
/// instead of sleeping: a handler parks on a gate the test opens when it has seen what it needed.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen = false

    func open() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }

    /// True if the gate opened within `timeout`.
    @discardableResult
    func wait(timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while !isOpen {
            if !condition.wait(until: deadline) { return isOpen }
        }
        return true
    }

    /// `wait(timeout:)` for async tests (polls with `Task.sleep`, leaving the thread to other tests).
    @discardableResult
    func opened(within timeout: Duration) async -> Bool {
        await pollUntil(timeout: timeout) { opened }
    }

    var opened: Bool {
        condition.lock()
        defer { condition.unlock() }
        return isOpen
    }
}

/// Values recorded by handler threads for the test to inspect.
final class Recorder<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Value] = []

    func record(_ value: Value) { lock.withLock { values.append(value) } }
    var recorded: [Value] { lock.withLock { values } }
}

/// A counter shared between handler threads and the test.
final class Counter: @unchecked Sendable {
    private let condition = NSCondition()
    private var value = 0

    @discardableResult
    func increment() -> Int {
        condition.lock()
        defer { condition.unlock() }
        value += 1
        condition.broadcast()
        return value
    }

    var current: Int {
        condition.lock()
        defer { condition.unlock() }
        return value
    }

    /// `wait(forAtLeast:timeout:)` for async tests.
    @discardableResult
    func reached(_ target: Int, within timeout: Duration) async -> Bool {
        await pollUntil(timeout: timeout) { current >= target }
    }

    /// Waits until the value reaches `target`; false on timeout.
    @discardableResult
    func wait(forAtLeast target: Int, timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        condition.lock()
        defer { condition.unlock() }
        while value < target {
            if !condition.wait(until: deadline) { return value >= target }
        }
        return true
    }
}

/// Our `FastCGIServer` running in this process on its own thread, on a unix socket in a fresh temporary
/// directory, optionally behind a real nginx or lighttpd started from the shipped deploy config. Tests
/// use `ServerHarness.with { harness in ... }`, which stops everything at the end of the test without
/// blocking one of the cooperative pool's threads.
final class ServerHarness: @unchecked Sendable {
    let directory: TemporaryDirectory
    let socketPath: String
    let server: FastCGIServer
    private(set) var web: WebServerFixture?
    private let finished = Gate()
    private let outcome = RunOutcome()

    /// What `run()` threw; a separate object so the server thread never retains the harness (which
    /// would keep it, and its web server, alive past the test).
    private final class RunOutcome: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: Error?
        var error: Error? {
            get { lock.withLock { stored } }
            set { lock.withLock { stored = newValue } }
        }
    }

    init(
        behind kind: WebServerFixture.Kind? = .nginx,
        configure: (inout FastCGIServerConfiguration) -> Void = { _ in },
        handler: any HTTPHandler
    ) throws {
        directory = try TemporaryDirectory(prefix: "fcgi")
        socketPath = directory.file("rj.sock")
        var configuration = FastCGIServerConfiguration(listen: .unixSocket(path: socketPath))
        configuration.handlesSignals = false
        configuration.stopGracePeriod = .seconds(3)
        configure(&configuration)
        var logger = Logger(label: "test.fastcgi")
        logger.logLevel = .warning
        server = try FastCGIServer(configuration: configuration, handler: handler, logger: logger)
        let thread = Thread { [server, finished, outcome] in
            do {
                try server.run()
            } catch {
                outcome.error = error
            }
            finished.open()
        }
        thread.stackSize = 1 << 20
        thread.start()
        if let kind {
            web = try WebServerFixture.start(kind, socketPath: socketPath)
        }
    }

    func url(_ path: String) -> String { web!.url(path) }

    /// Whether `run()` has returned.
    var hasReturned: Bool { finished.opened }

    /// Waits for `run()` to return; true if it did within `timeout`.
    @discardableResult
    func waitForRunToReturn(timeout: Duration) async -> Bool { await finished.opened(within: timeout) }

    var error: Error? { outcome.error }

    /// Starts a harness, runs `body` with it, and stops it afterwards (also when `body` throws), waiting
    /// without blocking a thread: async tests share a cooperative pool of one thread per core.
    static func with(
        behind kind: WebServerFixture.Kind? = .nginx,
        configure: (inout FastCGIServerConfiguration) -> Void = { _ in },
        handler: any HTTPHandler,
        _ body: (ServerHarness) async throws -> Void
    ) async throws {
        let harness = try ServerHarness(behind: kind, configure: configure, handler: handler)
        do {
            try await body(harness)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    /// Stops the server and the web server; waits (suspended) for `run()` to return.
    func stop() async {
        server.stop()
        _ = await finished.opened(within: .seconds(15))
        await web?.stopped()
    }

    /// Stops the server and the web server; waits for `run()` to return.
    func shutdown() {
        server.stop()
        _ = finished.wait(timeout: .seconds(15))
        web?.stop()
    }

    deinit { shutdown() }
}

/// The echo handler's view of a request, as JSON the tests can inspect.
func echoResponse(_ request: HTTPRequest) -> HTTPResponse {
    let object: [String: Any] = [
        "method": request.method,
        "path": request.path,
        "query": request.query.map { [$0.name, $0.value] },
        "headers": request.headers,
        "body": String(decoding: request.body, as: UTF8.self),
        "bodyLength": request.body.count,
    ]
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    return .json(200, [UInt8](data))
}
