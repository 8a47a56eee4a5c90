import RunJournal
import Testing

@testable import RunsAPI

/// The idle watchdog as a stream applies it: a queued or running run silent for `idleTimeoutSeconds` fails
/// with `run.failed {"reason":"idle_timeout","idle_seconds":N}`, decided under the journal lock.
@Suite("Events stream: idle watchdog")
struct IdleWatchdogTests {
    static let idleFailure = #"{"reason":"idle_timeout","idle_seconds":300}"#

    @Test("a silent queued run fails at exactly 300 s; the failure is streamed, ends the stream and is journaled once")
    func silentQueuedRunFails() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let writer = api.runStream("r1")
        let last = try #require(writer.frames.last)
        #expect(last.eventType == "run.failed")
        #expect(last.dataText == Self.idleFailure)
        #expect(last.atMillis == api.at(300))
        #expect(writer.unflushedBytes == 0)
        #expect(api.clock.nowMillis() == api.at(300))
        let failures = api.journal(id).filter { $0.type == "run.failed" }
        #expect(failures.count == 1)
        #expect(failures.first?.ts == Timestamp.format(millis: api.at(300)))
        #expect(String(decoding: failures.first?.data ?? [], as: UTF8.self) == Self.idleFailure)
        #expect(try api.store.summary(of: id).status == .failed)
        #expect(writer.frames.heartbeats.count == 19, "heartbeats at 15 … 285 s, none at 300 s")
    }

    @Test("a silent running run fails at exactly 300 s after its last event")
    func silentRunningRunFails() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        api.schedule(at: 42) { _ = try? api.append(id, "run.started") }
        let writer = api.runStream("r1")
        #expect(writer.frames.last?.eventType == "run.failed")
        #expect(writer.frames.last?.atMillis == api.at(342))
        #expect(writer.frames.last?.dataText == Self.idleFailure)
        #expect(api.journalTypes(id) == ["run.created", "run.started", "run.failed"])
    }

    @Test("the idle timeout is configurable")
    func idleTimeoutIsConfigurable() throws {
        let api = try APIHarness { $0.idleTimeoutSeconds = 45 }
        let id = try api.createRun("r1")
        let writer = api.runStream("r1")
        #expect(writer.frames.last?.atMillis == api.at(45))
        #expect(writer.frames.last?.dataText == #"{"reason":"idle_timeout","idle_seconds":45}"#)
        #expect(api.journalTypes(id).last == "run.failed")
    }

    @Test("an idle timeout of off never fails a run, even after hours")
    func idleTimeoutOffNeverFails() throws {
        let api = try APIHarness { $0.idleTimeoutSeconds = nil }
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        let writer = api.writer()
        api.schedule(at: 10 * 3600) { writer.hangUp() }
        api.runStream("r1", writer: writer)
        #expect(api.journalTypes(id) == ["run.created", "run.started"])
        #expect(writer.frames.events.count == 2)
        #expect(writer.frames.heartbeats.count == 10 * 3600 / 15 - 1)
        #expect(api.clock.nowMillis() == api.at(10 * 3600))
    }

    @Test("a run whose last event is run.waiting is never idle")
    func waitingRunIsNotIdle() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        try api.append(id, "run.waiting", #"{"for":"approval"}"#)
        let writer = api.writer()
        api.schedule(at: 5 * 3600) { writer.hangUp() }
        api.runStream("r1", writer: writer)
        #expect(api.journalTypes(id) == ["run.created", "run.started", "run.waiting"])
    }

    @Test("after run.waiting, the idle timer runs from the next event")
    func idleTimerRestartsAfterWaiting() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.waiting")
        api.schedule(at: 1000) { _ = try? api.append(id, "input.received") }
        let writer = api.runStream("r1")
        let failure = try #require(writer.frames.last)
        #expect(failure.eventType == "run.failed")
        #expect(failure.atMillis == api.at(1300))
        #expect(failure.dataText == Self.idleFailure)
        #expect(api.journalTypes(id) == ["run.created", "run.waiting", "input.received", "run.failed"])
    }

    @Test("a run silent since before the responder started fails idle-timeout after the start, not at once")
    func idleCountsFromResponderStart() throws {
        let start = VirtualClock.defaultStart
        let api = try APIHarness(clockStart: start - 2 * 3_600_000, startedAt: start)
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        api.clock.advance(to: start)
        let writer = api.runStream("r1")
        let failure = try #require(writer.frames.last)
        #expect(failure.eventType == "run.failed")
        #expect(failure.atMillis == start + 300_000)
        #expect(failure.dataText == Self.idleFailure, "idle time never counts from before the start")
    }

    @Test("an event another writer appended just before the deadline, not yet shown by the follower, prevents the failure")
    func lateEventSeenUnderLockPreventsFailure() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        // A second store on the same directory: another responder or the CLI.
        let otherWriter = try JournalStore(directory: api.directory.path, fsyncPolicy: .never, clock: api.clock)
        api.schedule(at: 299.999) {
            api.follower.pause()
            _ = try? otherWriter.append(id, [NewEvent(type: try! EventType("progress"), compactData: Array("{}".utf8))])
        }
        api.schedule(at: 310) { api.follower.resume() }
        let writer = api.runStream("r1")
        let frames = writer.frames
        // No failure at 300 s: the re-check under the lock saw the event at 299.999 s.
        #expect(api.journalTypes(id) == ["run.created", "progress", "run.failed"])
        #expect(frames.events.map(\.eventType) == ["run.created", "progress", "run.failed"])
        #expect(frames.events[safe: 1]?.atMillis == api.at(310), "the event arrives when the follower shows it")
        // The next deadline counts from the late event as this responder first saw it: under the lock at
        // 300 s (its ts, 299.999 s, is a millisecond earlier, but this process cannot vouch for that one).
        #expect(frames.events[safe: 2]?.atMillis == api.at(600))
        #expect(frames.events[safe: 2]?.dataText == Self.idleFailure)
    }

    @Test("an event appended exactly at the deadline wins over the watchdog")
    func eventAtDeadlineWins() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        api.schedule(at: 300) { _ = try? api.append(id, "progress") }
        api.schedule(at: 301) { _ = try? api.append(id, "run.completed") }
        let writer = api.runStream("r1")
        #expect(writer.frames.events.map(\.eventType) == ["run.created", "progress", "run.completed"])
        #expect(!api.journalTypes(id).contains("run.failed"))
    }

    @Test("a run failed meanwhile by someone else is not failed twice; the stream shows the one failure and ends")
    func failureBySomeoneElseIsNotDuplicated() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let otherWriter = try JournalStore(directory: api.directory.path, fsyncPolicy: .never, clock: api.clock)
        let policy = api.context.lifecycle
        api.schedule(at: 300) {
            // Another responder's sweeper acts first, while this stream's follower has not shown it yet.
            api.follower.pause()
            _ = try? otherWriter.appendIf(id) { policy.overdueEvents($0, now: api.clock.nowMillis()) }
        }
        api.schedule(at: 300.5) { api.follower.resume() }
        let writer = api.runStream("r1")
        #expect(api.journalTypes(id) == ["run.created", "run.failed"])
        #expect(writer.frames.events.map(\.eventType) == ["run.created", "run.failed"])
    }
}

/// `LifecyclePolicy` on its own: the deadlines and the decision under the lock.
@Suite("Lifecycle policy")
struct LifecyclePolicyTests {
    @Test("the idle decision is re-checked under the journal lock: an event appended meanwhile prevents the failure")
    func recheckUnderLockPreventsFailure() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let policy = api.context.lifecycle
        let stale = try api.store.summary(of: id)
        #expect(policy.nextDeadline(stale) == api.at(300))

        api.clock.advance(to: api.at(299.999))
        try api.append(id, "progress")  // another writer, just before the deadline
        api.clock.advance(to: api.at(300))
        // The stale summary says "due"; the fresh one under the lock does not.
        #expect(policy.overdueEvents(stale, now: api.clock.nowMillis()) != nil)
        let appended = try api.store.appendIf(id) { fresh in policy.overdueEvents(fresh, now: api.clock.nowMillis()) }
        #expect(appended == nil)
        #expect(api.journalTypes(id) == ["run.created", "progress"])

        // Control: once idle for the full timeout after that event, the same call appends the failure.
        api.clock.advance(to: api.at(599.999))
        let failed = try api.store.appendIf(id) { fresh in policy.overdueEvents(fresh, now: api.clock.nowMillis()) }
        #expect(failed == 3...3)
        #expect(api.journalTypes(id) == ["run.created", "progress", "run.failed"])
    }

    @Test("a run that started waiting just before the deadline is not failed by the decision under the lock")
    func waitingJustBeforeDeadlineIsNotFailed() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        let policy = api.context.lifecycle
        let stale = try api.store.summary(of: id)
        api.clock.advance(to: api.at(299.999))
        try api.append(id, "run.waiting")
        api.clock.advance(to: api.at(3600))
        #expect(policy.nextDeadline(stale) == api.at(300), "the stale view says it is due")
        let appended = try api.store.appendIf(id) { fresh in policy.overdueEvents(fresh, now: api.clock.nowMillis()) }
        #expect(appended == nil)
        #expect(api.journalTypes(id) == ["run.created", "run.waiting"])
    }

    @Test("deadlines: idle from max(last event, start), none while waiting, none with the watchdog off, none when terminal")
    func deadlines() throws {
        let api = try APIHarness()
        var policy = api.context.lifecycle
        var summary = RunSummary(id: try RunID("r1"))
        summary.updatedAtMillis = api.t0 - 10_000
        #expect(policy.nextDeadline(summary) == api.at(300), "silent since before the start")
        summary.updatedAtMillis = api.at(50)
        #expect(policy.nextDeadline(summary) == api.at(350))
        summary.lastType = "run.waiting"
        #expect(policy.nextDeadline(summary) == nil)
        summary.lastType = "step"
        summary.stopRequested = true
        summary.stopRequestedAtMillis = api.at(50)
        #expect(policy.nextDeadline(summary) == api.at(80), "stop grace comes first")
        policy.idleTimeoutMillis = nil
        #expect(policy.nextDeadline(summary) == api.at(80))
        summary.stopRequested = false
        summary.stopRequestedAtMillis = nil
        #expect(policy.nextDeadline(summary) == nil)
        summary.status = .completed
        summary.stopRequested = true
        summary.stopRequestedAtMillis = api.at(50)
        #expect(policy.nextDeadline(summary) == nil)
        #expect(policy.overdueEvents(summary, now: api.at(10_000)) == nil)
    }

    @Test("overdue events: nothing a millisecond early, the failure or the stop exactly on time")
    func overdueEventsAreExact() throws {
        let api = try APIHarness()
        let policy = api.context.lifecycle
        var summary = RunSummary(id: try RunID("r1"))
        summary.updatedAtMillis = api.at(10)
        #expect(policy.overdueEvents(summary, now: api.at(309.999)) == nil)
        let failure = try #require(policy.overdueEvents(summary, now: api.at(310)))
        #expect(failure.map(\.type) == [.failed])
        #expect(String(decoding: failure.first?.data ?? [], as: UTF8.self) == #"{"reason":"idle_timeout","idle_seconds":300}"#)

        var waiting = summary
        waiting.lastType = "run.waiting"
        #expect(policy.overdueEvents(waiting, now: api.at(10_000)) == nil, "a waiting run is never idle")

        summary.stopRequested = true
        summary.stopRequestedAtMillis = api.at(20)
        #expect(policy.overdueEvents(summary, now: api.at(49.999)) == nil)
        let stop = try #require(policy.overdueEvents(summary, now: api.at(50)))
        #expect(stop.map(\.type) == [.stopped])
        #expect(String(decoding: stop.first?.data ?? [], as: UTF8.self) == #"{"reason":"stop_grace_elapsed"}"#)
    }
}
