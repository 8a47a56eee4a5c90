import Foundation
import Testing
import SystemSupport

/// The waits that pair a lock with a condition: each returns on a raise or broadcast from another thread,
/// and a timed wait also returns once its deadline has passed. No upper bound on how long anything takes.
@Suite("Waiting")
struct WaitingTests {
    @Test("a WakeSignal raised by another thread ends waitAndLower and is lowered after it")
    func wakeSignalWaitAndLower() throws {
        let signal = WakeSignal()
        try startDetachedThread(name: "rj-support-raise") { signal.raise() }
        signal.waitAndLower()
        #expect(!signal.isRaised)
    }

    @Test("a WakeSignal's timed wait returns at its deadline without a raise, and does not lower a raise")
    func wakeSignalTimedWait() {
        let signal = WakeSignal()
        let deadline = MonotonicTime.now() + .milliseconds(20)
        signal.wait(until: deadline)
        #expect(!(MonotonicTime.now() < deadline))
        signal.raise()
        signal.wait(until: MonotonicTime.now() + .seconds(3600))
        #expect(signal.consume())
        #expect(!signal.consume())
    }

    @Test("ConditionLock's wait returns on a broadcast; its timed wait reports a passed deadline")
    func conditionLockWaits() throws {
        let lock = ConditionLock()
        let ready = LockedValue(false)
        try startDetachedThread(name: "rj-support-cond") {
            lock.withLock {
                ready.withLock { $0 = true }
                lock.broadcast()
            }
        }
        lock.withLock {
            while !ready.withLock({ $0 }) { lock.wait() }
        }
        let timedOut = lock.withLock { lock.wait(until: MonotonicTime.now() + .milliseconds(5)) }
        #expect(!timedOut)
    }

    @Test("MonotonicTime adds durations and saturates instead of overflowing")
    func monotonicTimeArithmetic() {
        let start = MonotonicTime(nanoseconds: 1_000)
        #expect((start + .milliseconds(2)).nanoseconds == 2_001_000)
        #expect((start + .seconds(Int64.max)).nanoseconds == Int64.max / 2)
        #expect(start < start + .nanoseconds(1))
        #expect(MonotonicTime(nanoseconds: 3_500_000_000).timespec.tv_sec == 3)
        #expect(MonotonicTime(nanoseconds: 3_500_000_000).timespec.tv_nsec == 500_000_000)
    }
}
