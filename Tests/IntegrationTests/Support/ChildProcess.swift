import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A subprocess started with posix_spawn in its own process group, so tests can signal it (and any
/// workers it forks, such as nginx's) as a unit and never leave strays behind. Signal dispositions are
/// reset to the defaults in the child: the test process ignores SIGPIPE (libfcgi), and an ignored signal
/// would otherwise be inherited across exec.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    let executable: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    struct SpawnError: Error, CustomStringConvertible {
        let description: String
    }

    /// Where the child's stdin/stdout/stderr go.
    enum Output {
        case discard
        case file(String)
        /// The write end of a pipe (the caller keeps the read end).
        case fd(Int32)
    }

    /// `stdin` is the path of a file the child reads as its standard input (default: /dev/null).
    init(
        executable: String, arguments: [String], environment: [String: String]? = nil,
        workingDirectory: String? = nil, stdin: String? = nil, stdout: Output = .discard, stderr: Output = .discard
    ) throws {
        self.executable = executable
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin ?? "/dev/null", O_RDONLY, 0)
        for (fd, output) in [(Int32(1), stdout), (Int32(2), stderr)] {
            switch output {
            case .discard: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
            case .file(let path): posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            case .fd(let source): posix_spawn_file_actions_adddup2(&actions, source, fd)
            }
        }
        // Other test servers' connections are open in this process (libfcgi accepts without CLOEXEC);
        // a child must not keep copies of them alive.
        _ = Self.closeFrom?(&actions, 3)
        if let workingDirectory { _ = Self.addChdir?(&actions, workingDirectory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environmentStrings = (environment ?? Self.inheritedEnvironment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { environmentStrings.forEach { free($0) } }

        var child = pid_t()
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, environmentStrings)
        guard status == 0 else {
            throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
    }

    /// The test process's environment without RUNJOURNAL_* variables: those are settings of `runjournal serve`
    /// (where an unknown one is an error) or knobs of the tests themselves (RUNJOURNAL_CRASH_ROUNDS); a child
    /// gets only the ones its test gives it.
    static var inheritedEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("RUNJOURNAL_") }
    }

    /// glibc 2.34+ extensions, looked up at run time (the Glibc module does not export them).
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private static let closeFrom: CloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    private static let addChdir: AddChdir? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<T>(_ name: String) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let pointer = dlsym(handle, name) else { return nil }
        return unsafeBitCast(pointer, to: T.self)
    }

    /// Searches PATH (and the sbin directories, where Debian puts nginx and lighttpd) for `name`.
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"]
        return directories.map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    func signal(_ signo: Int32) {
        guard exitStatusIfExited() == nil else { return }
        _ = kill(pid, signo)
    }

    /// Signals the whole process group (the child and anything it forked).
    func signalGroup(_ signo: Int32) {
        _ = kill(-pid, signo)
    }

    var isRunning: Bool { exitStatusIfExited() == nil }

    /// The raw wait status once the child has exited (without blocking).
    func exitStatusIfExited() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            exitStatus = status
            return status
        }
        if result < 0 && errno == ECHILD {
            exitStatus = -1
            return -1
        }
        return nil
    }

    /// Waits up to `timeout` for the child to exit; its wait status, or nil on timeout.
    @discardableResult
    func wait(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = exitStatusIfExited() { return status }
            if ContinuousClock.now >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// `wait(timeout:)` for async tests: sleeps with `Task.sleep` between checks, so the task's thread
    /// (one of the few in Swift's cooperative pool) serves other tests meanwhile.
    func exited(within timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = exitStatusIfExited() { return status }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// SIGTERM to the group, then SIGKILL if it has not exited within `grace`. Returns the wait status.
    @discardableResult
    func terminate(grace: Duration = .seconds(5)) -> Int32? {
        if isRunning { signalGroup(SIGTERM) }
        if let status = wait(timeout: grace) {
            signalGroup(SIGKILL)  // stragglers the leader left behind
            return status
        }
        signalGroup(SIGKILL)
        return wait(timeout: .seconds(5))
    }

    /// `terminate(grace:)` for async tests.
    @discardableResult
    func terminated(grace: Duration = .seconds(5)) async -> Int32? {
        if isRunning { signalGroup(SIGTERM) }
        let status = await exited(within: grace)
        signalGroup(SIGKILL)
        if let status { return status }
        return await exited(within: .seconds(5))
    }

    /// The exit code if the child exited normally.
    static func exitCode(_ status: Int32) -> Int32? {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : nil
    }

    /// The signal that killed the child, if any.
    static func terminatingSignal(_ status: Int32) -> Int32? {
        let signal = status & 0x7f
        return signal != 0 && signal != 0x7f ? signal : nil
    }

    deinit {
        if isRunning {
            signalGroup(SIGKILL)
            _ = wait(timeout: .seconds(2))
        }
    }
}
