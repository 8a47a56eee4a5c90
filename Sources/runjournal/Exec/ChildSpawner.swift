#if canImport(Glibc)
import Glibc
#endif

/// The command `runjournal exec` runs, started with `posix_spawn` (never `fork` in this threaded process) in
/// its own process group, its stdout and stderr on pipes whose read ends stay here.
///
/// Nothing of ours leaks into the child: every descriptor this process opens is close-on-exec (the pipes are
/// made with `O_CLOEXEC`, the store opens with it), and descriptors 3 and up are closed in the child on top
/// (`posix_spawn_file_actions_addclosefrom_np`, where glibc has it) for anything inherited without the flag.
/// Signal dispositions and the mask are reset: exec blocks SIGINT/SIGTERM in its own threads.
struct SpawnedChild {
    let pid: pid_t
    /// Read ends of the child's stdout and stderr (close-on-exec, owned by the caller).
    let stdout: Int32
    let stderr: Int32

    struct SpawnFailure: Error, CustomStringConvertible {
        let description: String
    }

    static func spawn(_ argv: [String]) throws -> SpawnedChild {
        let outPipe = try makePipe()
        let errPipe = try makePipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copies at 1 and 2; the originals close at exec.
        posix_spawn_file_actions_adddup2(&actions, outPipe.write, 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe.write, 2)
        _ = closeFrom?(&actions, 3)

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

        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid = pid_t()
        // posix_spawnp: the command is looked up in PATH like a shell would.
        let status = posix_spawnp(&pid, argv[0], &actions, &attributes, cArguments, environ)
        close(outPipe.write)
        close(errPipe.write)
        guard status == 0 else {
            close(outPipe.read)
            close(errPipe.read)
            throw SpawnFailure(description: "cannot start \(argv[0]): \(String(cString: strerror(status)))")
        }
        return SpawnedChild(pid: pid, stdout: outPipe.read, stderr: errPipe.read)
    }

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard let pipe2, pipe2(&fds, O_CLOEXEC) == 0 else {
            throw SpawnFailure(description: "cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }

    /// glibc 2.34+ extension, looked up at run time (the Glibc module does not export it).
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let closeFrom: CloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    /// pipe2 is behind _GNU_SOURCE, which the Glibc module does not define; a pipe made without O_CLOEXEC
    /// and flagged afterwards could leak into a command spawned by another thread in between.
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private static let pipe2: Pipe2? = symbol("pipe2")

    private static func symbol<T>(_ name: String) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let pointer = dlsym(handle, name) else { return nil }
        return unsafeBitCast(pointer, to: T.self)
    }
}

/// How the child ended, from its wait status.
enum ChildExit: Equatable {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    /// The status `runjournal exec` exits with: the child's, 128 + signal for a signal (as shells report it).
    var processExitCode: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    /// Blocks until `pid` has ended.
    static func wait(for pid: pid_t) -> ChildExit {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return .exited(255) }
        }
        return ChildExit(waitStatus: status)
    }
}

/// Signal names as `kill -l` spells them, for `run.failed {"signal":"SIGSEGV"}`.
enum SignalName {
    static func of(_ signal: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
            SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
            SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
            SIGCHLD: "SIGCHLD", SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP", SIGTTIN: "SIGTTIN",
            SIGTTOU: "SIGTTOU", SIGURG: "SIGURG", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGVTALRM: "SIGVTALRM",
            SIGPROF: "SIGPROF", SIGWINCH: "SIGWINCH", SIGIO: "SIGIO", SIGPWR: "SIGPWR", SIGSYS: "SIGSYS",
        ]
        return names[signal] ?? "SIG\(signal)"
    }
}
