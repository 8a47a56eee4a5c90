import RunJournal
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A raised/lowered flag a follow loop sleeps on: the tailer's `onWake`, the directory watch and the
/// interrupt thread raise it; the loop waits for it and lowers it before looking at what changed.
final class WakeFlag: @unchecked Sendable {
    private let lock = ConditionLock()
    private var raised = false

    func raise() {
        lock.withLock {
            raised = true
            lock.broadcast()
        }
    }

    /// Blocks until raised, then lowers it.
    func waitAndLower() {
        lock.withLock {
            while !raised { lock.wait() }
            raised = false
        }
    }
}

/// SIGINT and SIGTERM turned into a flag and a wake-up, so `tail -f` stops between writes and flushes what
/// it has instead of dying mid-line.
///
/// The signals are blocked in every thread and taken by one thread with `sigwait` — no signal handler, so
/// nothing async-signal-unsafe can run in one. `start` must run before any other thread exists (before the
/// tailer starts its own) because threads inherit the mask they are created with.
final class Interrupts: Sendable {
    private let received = Atomic<Int32>(0)

    var signal: Int32? {
        let value = received.load(ordering: .acquiring)
        return value == 0 ? nil : value
    }

    static func start(wake: WakeFlag) throws -> Interrupts {
        let interrupts = Interrupts()
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let blocked = set
        try startDetachedThread(name: "rj-interrupts", stackSize: 64 * 1024) {
            var mask = blocked
            var number: Int32 = 0
            while sigwait(&mask, &number) != 0 {}
            interrupts.received.store(number, ordering: .releasing)
            wake.raise()
        }
        return interrupts
    }
}
