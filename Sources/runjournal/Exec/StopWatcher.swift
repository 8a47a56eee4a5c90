import JournalTailer
import Logging
import RunJournal
import Synchronization
import SystemSupport

/// Follows exec's own journal with the tailer (as `tail -f` does) and calls `onStop` once when a
/// `run.stop_requested` appears — from `POST /v1/runs/:id/stop` or `runjournal stop`, in any process.
final class StopWatcher: @unchecked Sendable {
    private let tailer = JournalTailer(mode: .inotify, logger: Logger(label: "runjournal.exec"))
    private let subscription: JournalSubscription
    private let wake = WakeSignal()
    private let finished = Atomic<Bool>(false)
    private let onStop: @Sendable () -> Void

    init(path: String, from offset: Int64, onStop: @escaping @Sendable () -> Void) throws {
        self.onStop = onStop
        let wake = self.wake
        subscription = try tailer.subscribe(path: path, from: offset) { wake.raise() }
    }

    func start() throws {
        try startDetachedThread(name: "rj-exec-stop", stackSize: 256 * 1024) { [self] in run() }
    }

    func finish() {
        finished.store(true, ordering: .releasing)
        wake.raise()
    }

    private func run() {
        defer { subscription.cancel() }
        while !finished.load(ordering: .acquiring) {
            wake.waitAndLower()
            while !finished.load(ordering: .acquiring) {
                guard let next = try? subscription.read(maxBytes: 1 << 20) else { return }
                switch next {
                case .caughtUp:
                    break
                case .gone:
                    return
                case .lines(let bytes, let offset):
                    var requested = false
                    try? bytes.withUnsafeBytes { raw in
                        try JournalReader.forEachLine(in: raw, offset: offset, path: subscription.path) { line in
                            if EventType.lifecycle(line.type) == .stopRequested { requested = true }
                            return !requested
                        }
                    }
                    if requested {
                        onStop()
                        return
                    }
                    continue
                }
                break
            }
        }
    }
}
