import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a request through curl produced.
struct HTTPResult: Sendable {
    /// The final status (after any 100 Continue), nil if no response came (connection dropped).
    var status: Int?
    /// Header fields in order, names as sent.
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// curl's exit code: 0, or e.g. 52 "empty reply from server" (a dropped connection), 28 timeout.
    var curlExitCode: Int32

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The value of header `name` (case-insensitive).
    func header(_ name: String) -> String? {
        headers.last(where: { $0.name.lowercased() == name.lowercased() })?.value
    }

    /// The body parsed as JSON (nil if it is not JSON).
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body)) }

    /// `error.code` of the API's error shape `{"error":{"code":..,"message":..}}`.
    var errorCode: String? { ((json as? [String: Any])?["error"] as? [String: Any])?["code"] as? String }
}

/// A small HTTP client over curl, the same client a person would use against the real servers.
enum HTTPClient {
    /// A GET; waits for the complete response (at most `timeout`).
    static func request(_ url: String, headers: [(String, String)] = [], timeout: Duration = .seconds(30)) throws -> HTTPResult {
        try request("GET", url, headers: headers, timeout: timeout)
    }

    /// One request; waits for the complete response (at most `timeout`), blocking the calling thread.
    /// Async tests use `fetch`, which leaves the thread to other tests while curl runs.
    static func request(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(30)
    ) throws -> HTTPResult {
        let call = try CurlCall(method, url, headers: headers, body: body, timeout: timeout)
        return try call.result(status: call.curl.wait(timeout: timeout + .seconds(5)))
    }

    /// A GET for async tests.
    static func fetch(_ url: String, headers: [(String, String)] = [], timeout: Duration = .seconds(30)) async throws -> HTTPResult {
        try await fetch("GET", url, headers: headers, timeout: timeout)
    }

    /// `request` for async tests: curl runs while the task is suspended.
    static func fetch(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> HTTPResult {
        let call = try CurlCall(method, url, headers: headers, body: body, timeout: timeout)
        return try call.result(status: await call.curl.exited(within: timeout + .seconds(5)))
    }

    /// One curl run writing the head and the body to files.
    private struct CurlCall {
        let method: String
        let url: String
        let directory: TemporaryDirectory
        let curl: ChildProcess

        init(_ method: String, _ url: String, headers: [(String, String)], body: [UInt8]?, timeout: Duration) throws {
            self.method = method
            self.url = url
            directory = try TemporaryDirectory(prefix: "curl")
            // HEAD needs -I: with -X HEAD curl would wait for the body Content-Length announces.
            var arguments = (method == "HEAD" ? ["-sS", "-I"] : ["-sS", "-X", method])
                + ["-o", directory.file("body"), "-D", directory.file("headers"),
                   "--max-time", String(Double(timeout.components.seconds) + 1), "-H", "Expect:"]
            for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
            if let body {
                try Data(body).write(to: URL(fileURLWithPath: directory.file("request")))
                arguments += ["--data-binary", "@" + directory.file("request")]
            }
            arguments.append(url)
            curl = try ChildProcess(executable: HTTPClient.curlPath(), arguments: arguments, stderr: .file(directory.file("stderr")))
        }

        func result(status: Int32?) throws -> HTTPResult {
            guard let status else {
                curl.terminate()
                throw ChildProcess.SpawnError(description: "curl \(method) \(url) did not finish")
            }
            let headerText = (try? String(contentsOfFile: directory.file("headers"), encoding: .utf8)) ?? ""
            let bodyBytes = (try? Data(contentsOf: URL(fileURLWithPath: directory.file("body")))).map { [UInt8]($0) } ?? []
            var result = HTTPClient.parseHead(headerText)
            result.body = method == "HEAD" ? [] : bodyBytes  // with -I, curl writes the head to -o
            result.curlExitCode = ChildProcess.exitCode(status) ?? -1
            return result
        }
    }

    /// Many GETs at once from one curl process (`--parallel`): statuses and bodies in `urls` order
    /// (headers are not collected: curl keeps one --dump-header file for all transfers).
    static func parallelGET(_ urls: [String], maxParallel: Int, timeout: Duration = .seconds(60)) async throws -> [HTTPResult] {
        let directory = try TemporaryDirectory(prefix: "curl")
        var arguments = ["-sS", "--parallel", "--parallel-immediate", "--parallel-max", String(maxParallel),
                         "--max-time", String(timeout.components.seconds), "-w", "%{urlnum} %{http_code} %{exitcode}\\n"]
        for (index, url) in urls.enumerated() {
            arguments += ["-o", directory.file("body-\(index)"), url]
        }
        let curl = try ChildProcess(
            executable: curlPath(), arguments: arguments, stdout: .file(directory.file("statuses")),
            stderr: .file(directory.file("stderr")))
        guard await curl.exited(within: timeout + .seconds(10)) != nil else {
            curl.terminate()
            throw ChildProcess.SpawnError(description: "curl --parallel did not finish")
        }
        var results = urls.map { _ in HTTPResult(status: nil, headers: [], body: [], curlExitCode: -1) }
        let lines = ((try? String(contentsOfFile: directory.file("statuses"), encoding: .utf8)) ?? "").split(separator: "\n")
        for line in lines {
            let fields = line.split(separator: " ").compactMap { Int($0) }
            guard fields.count == 3, results.indices.contains(fields[0]) else { continue }
            results[fields[0]].status = fields[1] == 0 ? nil : fields[1]
            results[fields[0]].curlExitCode = Int32(fields[2])
        }
        for index in urls.indices {
            results[index].body = (try? Data(contentsOf: URL(fileURLWithPath: directory.file("body-\(index)")))).map { [UInt8]($0) } ?? []
        }
        return results
    }

    static func curlPath() throws -> String {
        guard let curl = ChildProcess.find("curl") else { throw ChildProcess.SpawnError(description: "curl is not installed") }
        return curl
    }

    /// Parses `-D` output; with several heads (100 Continue, redirects) the last one wins.
    static func parseHead(_ text: String) -> HTTPResult {
        var result = HTTPResult(status: nil, headers: [], body: [], curlExitCode: 0)
        // "\r\n" is one Character in Swift: split on any newline.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            if line.hasPrefix("HTTP/") {
                result.headers = []
                result.status = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            } else if let colon = line.firstIndex(of: ":") {
                let name = String(line[..<colon])
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                result.headers.append((name, value))
            }
        }
        return result
    }
}

/// A streaming GET through curl (`-N`, no buffering): the body is read as it arrives, so a test can wait
/// for given SSE frames, then disconnect like a browser tab being closed.
final class HTTPStream: @unchecked Sendable {
    private let process: ChildProcess
    private let readFD: Int32
    private let directory: TemporaryDirectory
    private let lock = NSLock()
    private var buffer: [UInt8] = []
    private var reachedEnd = false

    init(_ url: String, headers: [(String, String)] = []) throws {
        directory = try TemporaryDirectory(prefix: "sse")
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ChildProcess.SpawnError(description: "pipe failed") }
        var arguments = ["-sS", "-N", "-D", directory.file("headers"), "-H", "Accept: text/event-stream"]
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        arguments.append(url)
        do {
            process = try ChildProcess(
                executable: HTTPClient.curlPath(), arguments: arguments, stdout: .fd(fds[1]),
                stderr: .file(directory.file("stderr")))
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
        close(fds[1])
        readFD = fds[0]
    }

    deinit {
        disconnect()
        close(readFD)
    }

    /// Everything received so far, as text.
    var received: String { lock.withLock { String(decoding: buffer, as: UTF8.self) } }

    /// Status and headers, once curl has written them.
    var head: HTTPResult { HTTPClient.parseHead((try? String(contentsOfFile: directory.file("headers"), encoding: .utf8)) ?? "") }

    /// Reads until `predicate(received text)` holds, the stream ends, or `timeout` passes.
    @discardableResult
    func read(until predicate: (String) -> Bool, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = received
            if predicate(text) { return true }
            if lock.withLock({ reachedEnd }) { return false }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return false }
            let milliseconds = Int32(min(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000, 200))
            _ = readAvailable(waitingMilliseconds: max(milliseconds, 1))
        }
    }

    /// `read(until:timeout:)` for async tests: drains what is available, then sleeps with `Task.sleep`
    /// instead of blocking in poll(2).
    @discardableResult
    func receive(until predicate: (String) -> Bool, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if predicate(received) { return true }
            if lock.withLock({ reachedEnd }) { return false }
            if ContinuousClock.now >= deadline { return false }
            if !readAvailable(waitingMilliseconds: 0) { try? await Task.sleep(for: .milliseconds(5)) }
        }
    }

    /// `waitForEnd` for async tests.
    func ended(within timeout: Duration) async -> Bool {
        await receive(until: { _ in false }, timeout: timeout)
        return lock.withLock { reachedEnd }
    }

    /// Reads whatever is ready, waiting up to `waitingMilliseconds` for something; true if anything (data
    /// or EOF) arrived.
    private func readAvailable(waitingMilliseconds: Int32) -> Bool {
        var poller = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, waitingMilliseconds) > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = Glibc.read(readFD, &chunk, chunk.count)
        if count > 0 {
            lock.withLock { buffer += chunk[..<count] }
        } else if count == 0 {
            lock.withLock { reachedEnd = true }
        }
        return count >= 0
    }

    /// Waits for the server to end the response (EOF); true if it did within `timeout`.
    func waitForEnd(timeout: Duration) -> Bool {
        read(until: { _ in false }, timeout: timeout)
        return lock.withLock { reachedEnd }
    }

    /// Closes the connection abruptly, as a browser does when its tab goes away.
    func disconnect() {
        process.signal(SIGKILL)
        process.wait(timeout: .seconds(5))
    }

    /// `disconnect` for async tests.
    func hangUp() async {
        process.signal(SIGKILL)
        _ = await process.exited(within: .seconds(5))
    }

    /// curl's exit code once it has ended (52: the server closed without any response).
    func curlExitCode(timeout: Duration = .seconds(10)) -> Int32? {
        process.wait(timeout: timeout).flatMap(ChildProcess.exitCode)
    }
}
