import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where the repository, its deploy files and the built products are, found from this source file and
/// the running test binary so that tests work from any working directory.
enum TestPaths {
    /// The package root: the nearest directory above this file that holds Package.swift.
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
            url.deleteLastPathComponent()
        }
        fatalError("no Package.swift above \(#filePath)")
    }()

    /// A file shipped under deploy/ (`nginx.conf`, `lighttpd.conf`, ...).
    static func deploy(_ name: String) -> String { "\(repositoryRoot)/deploy/\(name)" }

    /// The build products directory: where the test binary (and every executable product) was built.
    /// On Linux the test binary is `<products>/<Package>PackageTests.xctest` itself; on Darwin it sits
    /// inside that bundle.
    static let productsDirectory: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while url.path != "/", let bundle = url.pathComponents.lastIndex(where: { $0.hasSuffix(".xctest") }) {
            url = URL(fileURLWithPath: NSString.path(withComponents: Array(url.pathComponents[..<bundle])))
        }
        return url.path
    }()

    /// The built `runjournal` executable next to the test bundle (or `$RUNJOURNAL_BINARY`).
    static func runjournalBinary() throws -> String {
        let path = ProcessInfo.processInfo.environment["RUNJOURNAL_BINARY"] ?? "\(productsDirectory)/runjournal"
        guard access(path, X_OK) == 0 else {
            throw ChildProcess.SpawnError(description: "runjournal is not built at \(path); run `swift build` first")
        }
        return path
    }
}

/// A fresh directory under /tmp, removed with `remove()` (or when the value is released). Paths are
/// kept short on purpose: a unix socket path must fit in 107 bytes.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init(prefix: String = "rj") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw ChildProcess.SpawnError(description: "mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = String(cString: created)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func makeDirectory(_ name: String) throws -> String {
        let directory = file(name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    deinit { remove() }
}

/// Loopback ports for servers started by tests.
enum LoopbackPort {
    /// A port that was free a moment ago (the kernel's choice for port 0). Another process can take it
    /// before the caller binds it; the fixtures retry with a new port when that happens.
    static func free() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ChildProcess.SpawnError(description: "socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw ChildProcess.SpawnError(description: "cannot bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func isAccepting(_ port: Int) -> Bool {
        guard let fd = connect(port) else { return false }
        close(fd)
        return true
    }

    /// A socket connected to 127.0.0.1:`port` (the caller closes it), or nil with `errno` saying why.
    static func connect(_ port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            let code = errno
            close(fd)
            errno = code
            return nil
        }
        return fd
    }
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes. For waiting on other
/// processes (a server becoming ready), where no in-process seam exists.
@discardableResult
func waitUntil(timeout: Duration, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// `waitUntil` for async tests: checks `condition` every few milliseconds with `Task.sleep` in between,
/// never blocking the cooperative pool's threads (which parallel tests share).
@discardableResult
func pollUntil(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}
