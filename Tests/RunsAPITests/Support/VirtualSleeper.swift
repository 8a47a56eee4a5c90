import RunJournal
import RunsAPI
import Testing
import SystemSupport

/// A `StreamSleeper` that never sleeps: it drives a `VirtualClock` instead.
///
/// A stream calls `sleep(untilMillis:orUntil:)` when it has nothing to do until a deadline (heartbeat,
/// watchdog, stop grace). This sleeper then runs, in time order, whatever the test scheduled before that
/// deadline ("append an event at t = 20 s", "hang up at t = 40 s"): it sets the clock to the action's time,
/// runs it on the stream's own thread and returns, so the stream re-checks everything exactly as it would
/// after a real wake-up. With nothing scheduled it jumps the clock to the deadline. A whole stream therefore
/// runs synchronously and deterministically on the test's thread.
///
/// Safety net: a stream that is buggy (never ends, or spins without letting time pass) would hang the test
/// forever. Past `limitMillis` of virtual time, or after too many sleeps in a row that make no progress, the
/// sleeper triggers the context's `ShutdownSignal` (which every stream obeys) and records why, so the test
/// fails with a reason instead of hanging.
final class VirtualSleeper: StreamSleeper {
    typealias Action = @Sendable () -> Void

    private struct Scheduled {
        var atMillis: Int64
        var order: Int
        var action: Action
    }

    private struct State {
        var scheduled: [Scheduled] = []
        var nextOrder = 0
        var sleepCalls = 0
        var idleSpins = 0
        var deadlines: [Int64] = []
        var tripped: String?
    }

    let clock: VirtualClock
    let shutdown: ShutdownSignal
    /// Virtual time after which the sleeper gives up on the stream (shuts it down).
    let limitMillis: Int64
    /// Consecutive sleeps that neither ran an action nor moved the clock before the stream counts as spinning.
    let maxIdleSpins: Int
    private let state = LockedValue(State())

    init(clock: VirtualClock, shutdown: ShutdownSignal, limitMillis: Int64? = nil, maxIdleSpins: Int = 10_000) {
        self.clock = clock
        self.shutdown = shutdown
        self.limitMillis = limitMillis ?? clock.nowMillis() + 48 * 3_600_000
        self.maxIdleSpins = maxIdleSpins
    }

    /// Runs `action` when virtual time reaches `atMillis` (actions at the same time run in scheduling order).
    func schedule(atMillis: Int64, _ action: @escaping Action) {
        state.withLock { state in
            state.scheduled.append(Scheduled(atMillis: atMillis, order: state.nextOrder, action: action))
            state.nextOrder += 1
        }
    }

    /// Why the safety net fired, if it did (a test should expect nil).
    var tripped: String? { state.withLock { $0.tripped } }

    /// Every deadline a stream asked to sleep until, in order.
    var deadlines: [Int64] { state.withLock { $0.deadlines } }

    /// Actions scheduled but not run yet.
    var pendingActions: Int { state.withLock { $0.scheduled.count } }

    func sleep(untilMillis deadlineMillis: Int64, orUntil signal: WakeSignal) {
        if signal.isRaised { return }
        let now = clock.nowMillis()
        let next: Scheduled? = state.withLock { state in
            state.sleepCalls += 1
            state.deadlines.append(deadlineMillis)
            guard let index = state.scheduled.indices
                .filter({ state.scheduled[$0].atMillis <= deadlineMillis })
                .min(by: { (state.scheduled[$0].atMillis, state.scheduled[$0].order) < (state.scheduled[$1].atMillis, state.scheduled[$1].order) })
            else { return nil }
            return state.scheduled.remove(at: index)
        }
        if let next {
            noteProgress()
            if next.atMillis > now { clock.advance(to: next.atMillis) }
            next.action()
            checkLimit()
            return
        }
        if deadlineMillis > now {
            noteProgress()
            clock.advance(to: deadlineMillis)
        } else {
            let spins = state.withLock { state -> Int in
                state.idleSpins += 1
                return state.idleSpins
            }
            if spins >= maxIdleSpins {
                trip("the stream slept \(spins) times in a row with a deadline in the past (busy loop?)")
            }
        }
        checkLimit()
    }

    private func noteProgress() {
        state.withLock { $0.idleSpins = 0 }
    }

    private func checkLimit() {
        let now = clock.nowMillis()
        if now > limitMillis {
            trip("virtual time passed the safety limit (\(now) > \(limitMillis)): the stream did not end")
        }
    }

    private func trip(_ reason: String) {
        let first = state.withLock { state -> Bool in
            guard state.tripped == nil else { return false }
            state.tripped = reason
            return true
        }
        if first { shutdown.trigger() }
    }
}
