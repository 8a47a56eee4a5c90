import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A token made by `runjournal token new` (the real command): the secret a client sends and the line the
/// tokens file holds.
struct IssuedToken: Sendable {
    let name: String
    let secret: String
    let line: String

    var header: (String, String) { ("Authorization", "Bearer \(secret)") }

    /// Runs `runjournal token new NAME --scopes SCOPES [--runs PATTERN]` and reads its output.
    static func issue(_ name: String, scopes: String, runs: String? = nil) throws -> IssuedToken {
        var arguments = ["token", "new", name, "--scopes", scopes]
        if let runs { arguments += ["--runs", runs] }
        let process = try RunJournalProcess(arguments: arguments)
        let code = process.waitForExit(timeout: .seconds(60))
        try #require(code == 0, "token new: exit \(String(describing: code)): \(process.stderr)")
        let lines = process.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 4, "token new printed: \(process.stdout)")
        return IssuedToken(name: name, secret: lines[1], line: lines[3])
    }
}

/// `runjournal serve --auth-tokens <file> --signing-key-file <file>` behind nginx and lighttpd, with a
/// token per scope and one confined to `acme-*`. Tests that change the files (SIGHUP) start their own.
final class AuthStack: @unchecked Sendable {
    let files: TemporaryDirectory
    let stack: E2EStack
    let reader: IssuedToken
    let writer: IssuedToken
    let admin: IssuedToken
    /// write scope, runs `acme-*` only.
    let acme: IssuedToken

    var tokensFile: String { files.file("tokens") }
    var signingKeyFile: String { files.file("signing.key") }

    /// `sharedName`: start the stack through `E2EStack.shared(named:)`, so it is stopped when the tests exit.
    init(extraFlags: [String] = [], sharedName: String? = nil) throws {
        files = try TemporaryDirectory(prefix: "auth")
        reader = try IssuedToken.issue("reader", scopes: "read")
        writer = try IssuedToken.issue("writer", scopes: "read,write")
        admin = try IssuedToken.issue("ops", scopes: "admin")
        acme = try IssuedToken.issue("acme-ci", scopes: "write", runs: "acme-*")
        try Self.writeTokens([reader, writer, admin, acme], in: files)
        try Self.writeSigningKey(seed: 1, in: files)
        let flags = ["--auth-tokens", files.file("tokens"), "--signing-key-file", files.file("signing.key")] + extraFlags
        stack = try sharedName.map { name in try E2EStack.shared(named: name) { try E2EStack(flags) } } ?? E2EStack(flags)
        stack.retain(files)
    }

    /// The stack shared by the tests that change nothing but runs.
    static func shared() throws -> AuthStack {
        try sharedStack.withLock { stack in
            if let stack { return try stack.get() }
            let started = Result { try AuthStack(sharedName: "auth: shared tokens") }
            stack = started
            return try started.get()
        }
    }

    private static let sharedStack = Mutex<Result<AuthStack, any Error>?>(nil)

    func writeTokens(_ tokens: [IssuedToken], extra: String = "") throws {
        try Self.writeTokens(tokens, extra: extra, in: files)
    }

    func writeSigningKey(seed: Int) throws {
        try Self.writeSigningKey(seed: seed, in: files)
    }

    /// Replaces the tokens file (written beside it, then renamed over it).
    static func writeTokens(_ tokens: [IssuedToken], extra: String = "", in files: TemporaryDirectory) throws {
        let text = "# written by the auth tests\n" + tokens.map(\.line).joined(separator: "\n") + "\n" + extra
        try text.write(toFile: files.file("tokens.new"), atomically: false, encoding: .utf8)
        rename(files.file("tokens.new"), files.file("tokens"))
    }

    /// 32 bytes of key (as hex text) that differ per seed.
    static func writeSigningKey(seed: Int, in files: TemporaryDirectory) throws {
        let key = String(repeating: String(format: "%02x", seed & 0xff), count: 32)
        try key.write(toFile: files.file("signing.key"), atomically: true, encoding: .utf8)
    }

    func client(_ kind: WebServerFixture.Kind) -> E2EClient { stack.client(kind) }
}

extension E2EClient {
    /// A request with `token` (nil: no Authorization header) and an optional JSON body.
    @discardableResult
    func send(_ method: String, _ target: String, as token: IssuedToken?, json: String? = nil, headers: [(String, String)] = []) async throws -> E2EConnection {
        var all = headers
        if let token { all.append(token.header) }
        if json != nil { all.append(("Content-Type", "application/json")) }
        return try await request(method, target, headers: all, body: json.map { Array($0.utf8) })
    }

    /// Creates `id` (nil: a generated id) with `token`; the id. Fails the test unless 201.
    func createRun(_ id: String?, as token: IssuedToken, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let response = try await send("POST", "/v1/runs", as: token, json: id.map { #"{"id":"\#($0)"}"# })
        try #require(response.status == 201, "create as \(token.name): \(response.status ?? 0) \(response.text)", sourceLocation: sourceLocation)
        return try #require((response.json as? [String: Any])?["id"] as? String, sourceLocation: sourceLocation)
    }

    /// Mints a stream token for `run`; the token text. Fails the test unless 200.
    func streamToken(_ run: String, as token: IssuedToken, ttl: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let response = try await send("POST", "/v1/runs/\(run)/stream-tokens" + (ttl.map { "?ttl=\($0)" } ?? ""), as: token)
        try #require(response.status == 200, "stream token as \(token.name): \(response.status ?? 0) \(response.text)", sourceLocation: sourceLocation)
        let object = try #require(response.json as? [String: Any], sourceLocation: sourceLocation)
        _ = try #require(object["expires_at"] as? String, sourceLocation: sourceLocation)
        return try #require(object["token"] as? String, sourceLocation: sourceLocation)
    }
}
