import Foundation
import RunJournal
import Testing
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The deployed product as the end-to-end tests see it: one `runjournal serve` responder (the real binary,
/// with the flags a test needs) and nginx and/or lighttpd in front of it, each from its shipped deploy
/// config. A test that needs special flags starts its own (about a quarter of a second); the rest share
/// one per flag set through `E2EStack.shared`, so the suite stays fast.
final class E2EStack: @unchecked Sendable {
    typealias Kind = WebServerFixture.Kind

    let directory: TemporaryDirectory
    let journalDirectory: String
    let socketPath: String
    let responder: RunJournalProcess
    private let servers: [Kind: WebServerFixture]
    private let retained = LockedValue<[AnyObject & Sendable]>([])

    /// Starts `runjournal serve --journal <journal> --socket <dir>/rj.sock <flags>` and the web servers
    /// `kinds` in front of it. `journalDirectory` defaults to a fresh `<dir>/journal`; give one to run
    /// several responders on the same journals.
    /// `configEdits` are applied to the web servers' shipped configs (see `WebServerFixture.start`).
    init(
        _ flags: [String] = [], kinds: [Kind] = Kind.allCases, journalDirectory: String? = nil,
        configEdits: [(String, String)] = []
    ) throws {
        directory = try TemporaryDirectory(prefix: "e2e")
        let journal = try journalDirectory ?? directory.makeDirectory("journal")
        self.journalDirectory = journal
        socketPath = directory.file("rj.sock")
        responder = try RunJournalProcess(
            arguments: ["serve", "--journal", journal, "--socket", socketPath] + flags, directory: directory)
        let socket = socketPath
        let responder = self.responder
        guard waitUntil(timeout: .seconds(20), { !responder.isRunning || UnixSocketProbe.isAccepting(socket) }), responder.isRunning else {
            responder.stop()
            throw ChildProcess.SpawnError(description: "runjournal serve \(flags) did not start: \(responder.stderr)")
        }
        var servers: [Kind: WebServerFixture] = [:]
        for kind in kinds {
            servers[kind] = try WebServerFixture.start(kind, socketPath: socketPath, configEdits: configEdits)
        }
        self.servers = servers
    }

    /// The web server of `kind` (it must have been started).
    func server(_ kind: Kind) -> WebServerFixture {
        guard let server = servers[kind] else { preconditionFailure("\(kind) was not started for this stack") }
        return server
    }

    func port(_ kind: Kind) -> Int { server(kind).port }

    /// A client for the API through `kind`.
    func client(_ kind: Kind) -> E2EClient { E2EClient(port: port(kind)) }

    /// An absolute URL through `kind` (for curl).
    func url(_ kind: Kind, _ path: String) -> String { server(kind).url(path) }

    var pid: pid_t { responder.pid }

    /// Keeps `object` (say, the temporary directory holding a journal given to `init`) alive as long as
    /// the stack.
    func retain(_ object: AnyObject & Sendable) {
        retained.withLock { $0.append(object) }
    }

    /// The responder's log (stderr), for failure messages.
    var log: String { responder.stderr }

    /// Stops the web servers, then the responder; the responder's exit code.
    @discardableResult
    func stop() -> Int32? {
        for server in servers.values { server.stop() }
        return responder.stop()
    }

    /// Removes every directory the stack made (its own, the web servers', retained ones); after `stop()`.
    private func removeDirectories() {
        for server in servers.values { server.directory.remove() }
        for object in retained.withLock({ $0 }) { (object as? TemporaryDirectory)?.remove() }
        directory.remove()
    }

    deinit {
        stop()
        removeDirectories()
    }

    // MARK: shared stacks

    private static let sharedStacks = LockedValue<[String: Result<E2EStack, any Error>]>([:])

    /// The stack for `flags` shared by every test that asks for the same flags (started on first use,
    /// stopped when the test process exits). Only for tests that do not stop it or depend on what other
    /// tests do to its journal directory.
    static func shared(_ flags: [String] = []) throws -> E2EStack {
        try shared(named: "flags: " + flags.joined(separator: " ")) { try E2EStack(flags) }
    }

    /// The stack `make` starts, shared by every test that asks for `name` (started once, on first use,
    /// stopped when the test process exits).
    static func shared(named name: String, _ make: () throws -> E2EStack) throws -> E2EStack {
        // Started under the lock: two tests asking at once must get the same stack, not two.
        let result = sharedStacks.withLock { stacks in
            if let existing = stacks[name] { return existing }
            let started = Result<E2EStack, any Error> { try make() }
            stacks[name] = started
            if stacks.count == 1 {
                atexit { E2EStack.stopSharedStacks() }
            }
            return started
        }
        return try result.get()
    }

    /// Stops every shared stack: statics are never deinitialized, and the servers are not our children's
    /// children once we are gone (they run in their own process groups), so without this they would outlive
    /// the test run.
    private static func stopSharedStacks() {
        let stacks = sharedStacks.withLock { stacks in
            let all = stacks.values.compactMap { try? $0.get() }
            stacks.removeAll()
            return all
        }
        for stack in stacks {
            stack.stop()
            stack.removeDirectories()
        }
    }
}

/// The runs API over `E2EConnection`: each call is one complete request and response.
struct E2EClient: Sendable {
    let port: Int

    /// The server did not end its response (close the connection) within the timeout.
    struct IncompleteResponse: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends one request and waits (at most `timeout`) for the complete response.
    @discardableResult
    func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> E2EConnection {
        try await request(method, rawTarget: Array(target.utf8), headers: headers, body: body, timeout: timeout)
    }

    @discardableResult
    func request(
        _ method: String, rawTarget: [UInt8], headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> E2EConnection {
        let connection = try E2EConnection(port: port, method: method, rawTarget: rawTarget, headers: headers, body: body)
        guard await connection.waitForEnd(timeout: timeout) else {
            throw IncompleteResponse(
                description: "\(method) \(String(decoding: rawTarget, as: UTF8.self)) got no complete response within \(timeout): \(connection.text.prefix(300))")
        }
        return connection
    }

    func get(_ target: String, headers: [(String, String)] = []) async throws -> E2EConnection {
        try await request("GET", target, headers: headers)
    }

    /// A POST with a JSON body (`Content-Type: application/json`); no body when `json` is nil.
    @discardableResult
    func post(_ target: String, json: String? = nil, contentType: String = "application/json") async throws -> E2EConnection {
        try await request("POST", target, headers: json == nil ? [] : [("Content-Type", contentType)], body: json.map { Array($0.utf8) })
    }

    /// Creates a run (optionally with an id and a metadata object, as JSON text) and returns its id;
    /// fails the test with the response when the API does not answer 201.
    @discardableResult
    func createRun(id: String? = nil, metadata: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        var members: [String] = []
        if let id { members.append(#""id":"\#(id)""#) }
        if let metadata { members.append(#""metadata":\#(metadata)"#) }
        let response = try await post("/v1/runs", json: members.isEmpty ? nil : "{" + members.joined(separator: ",") + "}")
        try #require(response.status == 201, "create: \(response.status.map(String.init) ?? "no status") \(response.text)", sourceLocation: sourceLocation)
        return try #require((response.json as? [String: Any])?["id"] as? String, sourceLocation: sourceLocation)
    }

    /// Appends one event; its seq. Fails the test unless the API answers 201.
    @discardableResult
    func append(_ run: String, _ type: String, _ data: String = "{}", sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int {
        let response = try await post("/v1/runs/\(run)/events", json: #"{"type":"\#(type)","data":\#(data)}"#)
        try #require(response.status == 201, "append \(type): \(response.status.map(String.init) ?? "no status") \(response.text)", sourceLocation: sourceLocation)
        let object = try #require(response.json as? [String: Any], sourceLocation: sourceLocation)
        return try #require(object["last_seq"] as? Int, sourceLocation: sourceLocation)
    }

    /// The run as `GET /v1/runs/:id` shows it.
    func show(_ run: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String: Any] {
        let response = try await get("/v1/runs/\(run)")
        try #require(response.status == 200, "show: \(response.status.map(String.init) ?? "no status") \(response.text)", sourceLocation: sourceLocation)
        return try #require(response.json as? [String: Any], sourceLocation: sourceLocation)
    }

    /// Opens an event stream (not waiting for anything).
    func stream(_ run: String, query: String = "", headers: [(String, String)] = []) throws -> E2EConnection {
        try E2EConnection(port: port, target: "/v1/runs/\(run)/events\(query)", headers: [("Accept", "text/event-stream")] + headers)
    }

    /// Sends every request at once (all connections open and all requests written before any response
    /// is read) and waits for every response; in the order given.
    func concurrently(_ requests: [(method: String, target: String, headers: [(String, String)], body: [UInt8]?)], timeout: Duration) async throws -> [E2EConnection] {
        let connections = try requests.map { try E2EConnection(port: port, method: $0.method, target: $0.target, headers: $0.headers, body: $0.body) }
        await E2EConnection.pumpAll(connections, timeout: timeout) { $0.allSatisfy(\.ended) }
        return connections
    }
}
