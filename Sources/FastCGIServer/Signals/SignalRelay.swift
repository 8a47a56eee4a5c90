import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import RunJournal
import SystemSupport

/// Turns SIGTERM, SIGINT and SIGHUP into ordinary calls on a Swift thread. A signal handler may only do
/// async-signal-safe work, so the C handler (CFastCGI/shim.h) writes the signal number into a pipe and a
/// dedicated thread reads it and calls the subscribed servers. Handlers are process-wide, hence one relay
/// for the process; with no subscriber left the default disposition is restored, so a process that has
/// finished serving still dies on SIGTERM as expected.
final class SignalRelay: Sendable {
    static let shared = SignalRelay()
    /// SIGTERM/SIGINT stop the server; SIGHUP asks it to reload (`FastCGIServerConfiguration.onReload`).
    static let relayedSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    private struct State {
        var readFD: Int32 = -1
        var writeFD: Int32 = -1
        var subscribers: [UInt64: @Sendable (Int32) -> Void] = [:]
        var nextID: UInt64 = 1
    }

    private let state = LockedValue(State())

    /// Calls `handler` with the signal number for each relayed signal until `unsubscribe`.
    func subscribe(_ handler: @escaping @Sendable (Int32) -> Void) throws(FastCGIServerError) -> UInt64 {
        let result: Result<UInt64, FastCGIServerError> = state.withLock { state in
            if state.readFD < 0 {
                var fds: [Int32] = [-1, -1]
                guard pipe(&fds) == 0 else {
                    return .failure(FastCGIServerError(.threadCreationFailed, "cannot create the signal pipe", errno: errno))
                }
                // Only the write end is non-blocking (the handler must never block); the relay thread
                // blocks on the read end.
                for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
                let readFD = fds[0]
                let spawned = NativeThread.spawn(name: "fcgi-signals", stackSize: 128 * 1024) { [self] in
                    self.relayLoop(readFD: readFD)
                }
                if case .failure(let error) = spawned {
                    _ = close(fds[0])
                    _ = close(fds[1])
                    return .failure(FastCGIServerError(.threadCreationFailed, "cannot start the signal thread", errno: error.errno))
                }
                state.readFD = fds[0]
                state.writeFD = fds[1]
            }
            if state.subscribers.isEmpty {
                for signo in Self.relayedSignals {
                    _ = runjournal_install_signal_relay(signo, state.writeFD)
                }
            }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = handler
            return .success(id)
        }
        return try result.get()
    }

    func unsubscribe(_ id: UInt64) {
        state.withLock { state in
            guard state.subscribers.removeValue(forKey: id) != nil, state.subscribers.isEmpty else { return }
            for signo in Self.relayedSignals {
                _ = runjournal_restore_default_signal(signo)
            }
        }
    }

    private func relayLoop(readFD: Int32) {
        var byte: UInt8 = 0
        while true {
            let count = read(readFD, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else { return }
            let handlers = state.withLock { Array($0.subscribers.values) }
            for handler in handlers { handler(Int32(byte)) }
        }
    }
}
