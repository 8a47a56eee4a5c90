import Foundation
import Logging
import RunJournal
import Testing

@testable import RunsAPI
import SystemSupport

/// `LifecycleSweeper.sweepOnce`: the watchdog and stop grace for runs nobody streams, and no double appends
/// when several responders sweep one directory.
@Suite("Lifecycle sweeper")
struct LifecycleSweeperTests {
    @Test("an idle run nobody streams is failed at its deadline, not a millisecond before")
    func failsIdleRunOnTime() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 1)
        #expect(sweeper.sweepOnce().isEmpty, "the pass that sees the run's last event")
        api.clock.advance(to: api.at(299.999))
        #expect(sweeper.sweepOnce().isEmpty)
        #expect(api.journalTypes(id) == ["run.created"])
        api.clock.advance(to: api.at(300))
        #expect(sweeper.sweepOnce() == [id])
        let lines = api.journal(id)
        #expect(lines.map(\.type) == ["run.created", "run.failed"])
        #expect(String(decoding: lines[safe: 1]?.data ?? [], as: UTF8.self) == #"{"reason":"idle_timeout","idle_seconds":300}"#)
        #expect(lines[safe: 1]?.ts == Timestamp.format(millis: api.at(300)))
        // Later passes leave the failed run alone.
        api.clock.advance(to: api.at(900))
        #expect(sweeper.sweepOnce().isEmpty)
        #expect(api.journal(id).count == 2)
    }

    @Test("the sweeper reports the idle time it found, counted from the last event")
    func reportsActualIdleTime() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 1)
        api.clock.advance(to: api.at(100))
        try api.append(id, "run.started")
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(to: api.at(1000))
        #expect(sweeper.sweepOnce() == [id])
        #expect(String(decoding: api.journal(id).last?.data ?? [], as: UTF8.self) == #"{"reason":"idle_timeout","idle_seconds":900}"#)
    }

    @Test("the sweeper applies stop grace at exactly the grace after the request")
    func appliesStopGrace() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.waiting")  // not idle: only the stop grace applies
        api.clock.advance(to: api.at(10))
        _ = try api.store.requestStop(id)
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 1)
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(to: api.at(39.999))
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(to: api.at(40))
        #expect(sweeper.sweepOnce() == [id])
        let last = try #require(api.journal(id).last)
        #expect(last.type == "run.stopped")
        #expect(String(decoding: last.data, as: UTF8.self) == #"{"reason":"stop_grace_elapsed"}"#)
        #expect(last.ts == Timestamp.format(millis: api.at(40)))
    }

    @Test("the sweeper ignores waiting runs and ended runs")
    func ignoresWaitingAndTerminalRuns() throws {
        let api = try APIHarness()
        let waiting = try api.createRun("waiting")
        try api.append(waiting, "run.waiting")
        let completed = try api.createRun("completed")
        try api.append(completed, "run.completed")
        let failed = try api.createRun("failed")
        try api.append(failed, "run.failed", #"{"reason":"crash"}"#)
        let stoppedAfterRequest = try api.createRun("stopped")
        _ = try api.store.requestStop(stoppedAfterRequest)
        try api.append(stoppedAfterRequest, "run.stopped")
        let before = [waiting, completed, failed, stoppedAfterRequest].map { readBytes(api.journalPath($0)) }
        api.clock.advance(to: api.at(24 * 3600))
        #expect(LifecycleSweeper(context: api.context, intervalSeconds: 1).sweepOnce().isEmpty)
        #expect([waiting, completed, failed, stoppedAfterRequest].map { readBytes(api.journalPath($0)) } == before)
    }

    @Test("a sweeper with the watchdog off fails nothing")
    func watchdogOff() throws {
        let api = try APIHarness { $0.idleTimeoutSeconds = nil }
        let id = try api.createRun("r1")
        api.clock.advance(to: api.at(24 * 3600))
        #expect(LifecycleSweeper(context: api.context, intervalSeconds: 1).sweepOnce().isEmpty)
        #expect(api.journalTypes(id) == ["run.created"])
    }

    @Test("a run silent since before the responder started is failed only idle-timeout after the start")
    func idleCountsFromStart() throws {
        let start = VirtualClock.defaultStart
        let api = try APIHarness(clockStart: start - 3_600_000, startedAt: start)
        let id = try api.createRun("r1")
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 1)
        api.clock.advance(to: start)
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(to: start + 299_999)
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(to: start + 300_000)
        #expect(sweeper.sweepOnce() == [id])
    }

    @Test("only due runs are acted on in one pass")
    func onlyDueRuns() throws {
        let api = try APIHarness()
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 1)
        let early = try api.createRun("early")
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(to: api.at(100))
        let late = try api.createRun("late")
        #expect(sweeper.sweepOnce().isEmpty)
        api.clock.advance(to: api.at(300))
        #expect(sweeper.sweepOnce() == [early])
        #expect(api.journalTypes(late) == ["run.created"])
    }

    @Test("an event appended after the sweeper listed the runs prevents the failure (decided under the lock)",
          arguments: ["progress", "run.waiting"])
    func eventAfterListingWins(type: String) throws {
        let directory = TemporaryDirectory("sweep")
        let clock = VirtualClock()
        let start = clock.nowMillis()
        let producer = try JournalStore(directory: directory.path, fsyncPolicy: .never, clock: clock, logger: .quietForTests)
        let id = try producer.create(id: try RunID("r1")).id
        // The sweeper reads "now" right after listing the runs: that is where another writer's event lands.
        let sweeperClock = HookedClock(clock)
        let store = try JournalStore(directory: directory.path, fsyncPolicy: .never, clock: clock, logger: .quietForTests)
        let context = RunsContext(
            store: store, configuration: RunsAPIConfiguration(startedAtMillis: start), follower: DirectFollower(),
            clock: sweeperClock, logger: .quietForTests)
        let sweeper = LifecycleSweeper(context: context, intervalSeconds: 1)
        #expect(sweeper.sweepOnce().isEmpty, "the pass that sees the run's last event")
        clock.advance(to: start + 300_000)
        sweeperClock.onNextRead {
            _ = try? producer.append(id, [NewEvent(type: try! EventType(type), compactData: Array("{}".utf8))])
        }
        #expect(sweeper.sweepOnce().isEmpty)
        #expect(journalFields(directory.file("r1.jsonl")).map(\.type) == ["run.created", type])
    }

    @Test("two sweepers with their own stores on one directory, racing on threads, never double-append")
    func concurrentSweepersNeverDoubleAppend() throws {
        let directory = TemporaryDirectory("sweep")
        let clock = VirtualClock()
        let configuration = RunsAPIConfiguration(startedAtMillis: clock.nowMillis())
        func makeContext() throws -> RunsContext {
            let store = try JournalStore(directory: directory.path, fsyncPolicy: .never, clock: clock, logger: .quietForTests)
            return RunsContext(
                store: store, configuration: configuration, follower: DirectFollower(), clock: clock, logger: .quietForTests)
        }
        let contexts = [try makeContext(), try makeContext()]
        let sweepers = contexts.map { LifecycleSweeper(context: $0, intervalSeconds: 1) }
        let rounds = 40
        let runsPerRound = 5
        var allRuns: [RunID] = []
        for round in 0..<rounds {
            var runs: [RunID] = []
            for n in 0..<runsPerRound {
                // Created through either store, so both have warm caches of journals the other one writes.
                runs.append(try contexts[n % 2].store.create(id: try RunID("run-\(round)-\(n)")).id)
            }
            allRuns += runs
            // Each responder sees the new runs (its own pass), then both find them idle at once.
            for sweeper in sweepers { #expect(sweeper.sweepOnce().isEmpty) }
            clock.advance(by: 300_000)
            let acted = Locked<[[RunID]]>([[], []])
            runOnThreads(2) { index in
                let result = sweepers[index].sweepOnce()
                acted.withLock { $0[index] = result }
            }
            let both = acted.value
            #expect(Set(both[0]).isDisjoint(with: Set(both[1])), "round \(round): both sweepers acted on one run")
            #expect(Set(both[0] + both[1]) == Set(runs), "round \(round): every idle run is failed by exactly one sweeper")
        }
        for id in allRuns {
            let types = journalFields(directory.file("\(id).jsonl")).map(\.type)
            #expect(types == ["run.created", "run.failed"], "\(id)")
        }
    }
}

/// A clock that runs a one-shot action the next time someone reads it: the seam for "something happens right
/// after the code under test looked at the list and before it decides".
final class HookedClock: WallClock, MonotonicClock {
    private let base: any WallClock
    private let pending = LockedValue<[@Sendable () -> Void]>([])

    init(_ base: any WallClock) { self.base = base }

    func onNextRead(_ action: @escaping @Sendable () -> Void) {
        pending.withLock { $0.append(action) }
    }

    func nowMillis() -> Int64 {
        let actions = pending.withLock { actions -> [@Sendable () -> Void] in
            defer { actions.removeAll() }
            return actions
        }
        for action in actions { action() }
        return base.nowMillis()
    }

    func monotonicMillis() -> Int64 { (base as? any MonotonicClock)?.monotonicMillis() ?? base.nowMillis() }
}

/// A value shared between threads in a test.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: LockedValue<Value>
    init(_ value: Value) { mutex = LockedValue(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}

/// Runs `body(index)` on `count` real threads released together, and waits for all of them.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchGroup()
    let start = DispatchSemaphore(value: 0)
    for index in 0..<count {
        done.enter()
        let thread = Thread {
            start.wait()
            body(index)
            done.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    for _ in 0..<count { start.signal() }
    done.wait()
}
