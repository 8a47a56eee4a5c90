import RunJournal
import SystemSupport

/// Something re-checked on every poll tick, on the poller's thread.
protocol PollTarget: AnyObject, Sendable {
    func pollTick()
}

/// Re-checks its targets every `interval` on one thread: the follow method where inotify cannot be used
/// (no instance, watch limit reached, kernel dropped the watch) and for everything in `.poll` mode.
///
/// The thread exists only while there is something to poll: it is started by the first `add` and exits on the
/// first tick that finds no targets, so an idle or discarded tailer leaves no thread behind. When the system
/// refuses the thread, the target stays registered and the next `add` tries again: its journal is then
/// polled late rather than never, and the process keeps running.
final class Poller: Sendable {
    let interval: Duration
    private struct State {
        var targets: [ObjectIdentifier: any PollTarget] = [:]
        var running = false
    }
    private let state = LockedValue(State())

    private let threadName: String

    init(interval: Duration, threadName: String = "rj-tail-poll") {
        self.threadName = threadName
        self.interval = interval
    }

    /// Adds `target`; returns the error when the polling thread was needed and could not be started.
    @discardableResult
    func add(_ target: any PollTarget) -> ThreadStartError? {
        let start = state.withLock { state -> Bool in
            state.targets[ObjectIdentifier(target)] = target
            defer { state.running = true }
            return !state.running
        }
        guard start else { return nil }
        do {
            try startDetachedThread(name: threadName) { [self] in self.run() }
            return nil
        } catch {
            state.withLock { $0.running = false }
            return error
        }
    }

    func remove(_ target: any PollTarget) {
        state.withLock { _ = $0.targets.removeValue(forKey: ObjectIdentifier(target)) }
    }

    var count: Int { state.withLock { $0.targets.count } }

    private func run() {
        while true {
            Sys.sleep(for: interval)
            let snapshot = state.withLock { state -> [any PollTarget]? in
                if state.targets.isEmpty {
                    state.running = false
                    return nil
                }
                return Array(state.targets.values)
            }
            guard let snapshot else { return }
            for target in snapshot { target.pollTick() }
        }
    }
}
