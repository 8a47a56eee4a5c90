import RunJournal
import Testing

@testable import RunsAPI

/// Heartbeats: a comment frame after `heartbeatSeconds` without any write, on the virtual clock.
@Suite("Events stream: heartbeat")
struct HeartbeatTests {
    @Test("with nothing to send, a heartbeat is written and flushed at exactly 15 s, 30 s, … after the last write")
    func heartbeatCadence() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.waiting")  // not idle: the watchdog stays out of the way
        let writer = api.writer()
        api.schedule(at: 100) { writer.hangUp() }
        api.runStream("r1", writer: writer)
        let heartbeats = writer.frames.heartbeats
        #expect(heartbeats.map(\.atMillis) == [15, 30, 45, 60, 75, 90].map { api.at($0) })
        #expect(heartbeats.allSatisfy { $0.raw == Array(": heartbeat\n\n".utf8) })
        // Each heartbeat is its own write, flushed at once.
        for heartbeat in heartbeats {
            #expect(writer.flushTimes.contains(heartbeat.atMillis))
        }
        #expect(writer.writes.filter { $0.bytes == Array(": heartbeat\n\n".utf8) }.count == 6)
    }

    @Test("an event resets the heartbeat cadence")
    func eventResetsCadence() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.waiting")
        let writer = api.writer()
        api.schedule(at: 20) { _ = try? api.append(id, "note") }
        api.schedule(at: 41) { _ = try? api.append(id, "note") }
        api.schedule(at: 70) { writer.hangUp() }
        api.runStream("r1", writer: writer)
        #expect(writer.frames.heartbeats.map(\.atMillis) == [15, 35, 56].map { api.at($0) })
    }

    @Test("the heartbeat interval is configurable")
    func heartbeatIntervalIsConfigurable() throws {
        let api = try APIHarness { $0.heartbeatSeconds = 4 }
        let id = try api.createRun("r1")
        try api.append(id, "run.waiting")
        let writer = api.writer()
        api.schedule(at: 13) { writer.hangUp() }
        api.runStream("r1", writer: writer)
        #expect(writer.frames.heartbeats.map(\.atMillis) == [4, 8, 12].map { api.at($0) })
    }

    @Test("a heartbeat write that fails because the client is gone ends the stream")
    func heartbeatNoticesDeadClient() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.waiting")
        // A transport that cannot see hang-ups: the third write (second heartbeat, at 30 s) finds the client gone.
        let writer = api.writer(failOnWrite: 3, detectsHangup: false)
        api.runStream("r1", writer: writer)
        #expect(writer.frames.heartbeats.map(\.atMillis) == [api.at(15)])
        #expect(api.clock.nowMillis() == api.at(30))
        #expect(api.follower.allFollowsCancelled)
    }
}
