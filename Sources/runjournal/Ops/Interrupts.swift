import RunJournal
import Synchronization
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

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

    static func start(wake: WakeSignal) throws -> Interrupts {
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
