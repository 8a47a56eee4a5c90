import Foundation
import RunJournal
import Testing

@testable import RunsAPI

#if canImport(Glibc)
import Glibc
#endif

/// The live phase: events appended while a client watches, the replay→live switch, and every way a stream ends
/// on its own (terminal event, journal gone).
@Suite("Events stream: live")
struct LiveStreamTests {
    @Test("events appended after the stream started arrive when they are appended, batches included")
    func liveEventsArrive() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        api.schedule(at: 5) { _ = try? api.append(id, "run.started") }
        api.schedule(at: 20) { _ = try? api.append(id, "log", #"{"line":"compiling"}"#) }
        api.schedule(at: 21) {
            _ = try? api.append(id, batch: [("log", #"{"line":"a"}"#), ("log", #"{"line":"b"}"#), ("log", #"{"line":"c"}"#)])
        }
        api.schedule(at: 50) { _ = try? api.append(id, "run.completed", #"{"exit":0}"#) }
        let writer = api.runStream("r1")
        let events = writer.frames.events
        #expect(events.map(\.eventID) == [1, 2, 3, 4, 5, 6, 7])
        #expect(events.map(\.atMillis) == [api.at(0), api.at(5), api.at(20), api.at(21), api.at(21), api.at(21), api.at(50)])
        #expect(events.map(\.dataText) == [
            #"{"metadata":{}}"#, "{}", #"{"line":"compiling"}"#, #"{"line":"a"}"#, #"{"line":"b"}"#, #"{"line":"c"}"#,
            #"{"exit":0}"#,
        ])
        // The whole batch went out in one write.
        #expect(writer.writes.filter { $0.atMillis == api.at(21) }.count == 1)
    }

    @Test("an event appended at the replay→live switch is sent once, with no gap")
    func appendAtSwitchIsNeitherLostNorDuplicated() throws {
        let storeBox = StoreBox()
        let api = try APIHarness(onFollow: { _, _ in storeBox.appendStep() })
        let id = try api.createRun("r1")
        storeBox.set(api.store, id)
        try api.append(id, "step")  // seq 2
        api.schedule(at: 1) { _ = try? api.append(id, "run.completed") }
        let writer = api.runStream("r1")
        #expect(writer.frames.eventIDs == [1, 2, 3, 4])
        #expect(writer.frames.events[safe: 2]?.eventType == "step")
        #expect(storeBox.appended == 1)
    }

    @Test("an event appended between the replay's last write and the follow is sent once")
    func appendAfterReplayFlushIsNeitherLostNorDuplicated() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "step")  // seq 2
        // The first write is the replay's (retry + seqs 1-2); append right then, before the stream follows.
        let writer = api.writer(onWrite: { number in
            if number == 1 { _ = try? api.append(id, "step", #"{"during":"switch"}"#) }
        })
        api.schedule(at: 1) { _ = try? api.append(id, "run.completed") }
        api.runStream("r1", writer: writer)
        #expect(writer.frames.eventIDs == [1, 2, 3, 4])
        #expect(writer.frames.events[safe: 2]?.dataText == #"{"during":"switch"}"#)
    }

    @Test("events appended while a long replay is being written are sent once, after it, in order")
    func appendDuringChunkedReplay() throws {
        let api = try APIHarness { $0.replayChunkBytes = 4096 }
        let id = try api.createRun("r1")
        try api.append(id, batch: (0..<2000).map { n in ("tick", #"{"n":\#(n)}"#) })  // seqs 2...2001
        let writer = api.writer(onWrite: { number in
            if number == 2 || number == 5 { _ = try? api.append(id, "late", #"{"write":\#(number)}"#) }
        })
        api.schedule(at: 1) { _ = try? api.append(id, "run.completed") }
        api.runStream("r1", writer: writer)
        let ids = writer.frames.eventIDs
        #expect(ids == Array(1...2004))
        #expect(writer.frames.events.suffix(3).map(\.eventType) == ["late", "late", "run.completed"])
    }

    @Test("the stream ends right after a terminal event, which is the last thing written and was flushed",
          arguments: ["run.completed", "run.failed", "run.stopped"])
    func endsAfterTerminalEvent(type: String) throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        api.schedule(at: 20) { _ = try? api.append(id, type, #"{"reason":"done"}"#) }
        api.schedule(at: 25) { Issue.record("the stream was still running 5 s after the terminal event") }
        let writer = api.runStream("r1")
        let frames = writer.frames
        #expect(frames.last?.eventType == type)
        #expect(frames.last?.atMillis == api.at(20))
        #expect(writer.text.hasSuffix("event: \(type)\ndata: {\"reason\":\"done\"}\n\n"))
        #expect(writer.unflushedBytes == 0, "the terminal frame must be flushed")
        #expect(writer.flushTimes.last == api.at(20))
        #expect(api.clock.nowMillis() == api.at(20), "the stream returned at the terminal event")
        #expect(api.follower.allFollowsCancelled)
        #expect(writer.hangupObservationCancelled == true)
    }

    @Test("a run that already ended is replayed and the stream ends without following")
    func alreadyTerminalReplaysThenEnds() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        try api.append(id, "run.completed")
        let writer = api.runStream("r1")
        #expect(writer.frames.eventIDs == [1, 2, 3])
        #expect(writer.frames.last?.eventType == "run.completed")
        #expect(writer.unflushedBytes == 0)
        #expect(api.follower.started.isEmpty)
        #expect(api.clock.nowMillis() == api.t0)
        #expect(writer.hangupObservationCancelled == true)
    }

    @Test("a stream resumed beyond the last seq ends when the run ends, even at a seq it does not show")
    func resumedBeyondEndsWhenRunEnds() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        api.schedule(at: 10) { _ = try? api.append(id, "run.completed") }  // seq 2, not shown (resume 50)
        api.schedule(at: 40) { Issue.record("the stream of an ended run kept going") }
        let writer = api.runStream("r1", lastEventID: "50")
        #expect(writer.frames.events.isEmpty)
        #expect(api.clock.nowMillis() == api.at(10))
        #expect(api.follower.allFollowsCancelled)
    }

    @Test("the stream ends when the journal is deleted while streaming")
    func endsWhenJournalDeleted() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        api.schedule(at: 20) { unlink(api.journalPath(id)) }
        let writer = api.runStream("r1")
        #expect(writer.frames.eventIDs == [1, 2])
        #expect(api.clock.nowMillis() == api.at(20))
        #expect(writer.unflushedBytes == 0)
        #expect(api.follower.allFollowsCancelled)
        #expect(writer.hangupObservationCancelled == true)
    }

    @Test("the stream ends when the journal is renamed away while streaming")
    func endsWhenJournalRenamedAway() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        try api.append(id, "run.started")
        api.schedule(at: 20) { rename(api.journalPath(id), api.directory.file("archived.jsonl.bak")) }
        let writer = api.runStream("r1")
        #expect(writer.frames.eventIDs == [1, 2])
        #expect(api.clock.nowMillis() == api.at(20))
    }

    @Test("a journal deleted with lines the stream has not sent yet: they are sent, then the stream ends")
    func deletedAfterAppendSendsRestThenEnds() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        api.schedule(at: 20) {
            _ = try? api.append(id, "last.words")
            unlink(api.journalPath(id))
        }
        let writer = api.runStream("r1")
        #expect(writer.frames.eventIDs == [1, 2])
        #expect(api.clock.nowMillis() == api.at(20))
    }
}

/// Lets the follower's hook (created before the store) append to the run once the test has made it.
final class StoreBox: @unchecked Sendable {
    private let lock = NSLock()
    private var store: JournalStore?
    private var id: RunID?
    private(set) var appended = 0

    func set(_ store: JournalStore, _ id: RunID) {
        lock.withLock {
            self.store = store
            self.id = id
        }
    }

    func appendStep() {
        let (store, id) = lock.withLock { (self.store, self.id) }
        guard let store, let id else { return }
        _ = try? store.append(id, [NewEvent(type: try! EventType("step"), compactData: Array("{}".utf8))])
        lock.withLock { appended += 1 }
    }
}
