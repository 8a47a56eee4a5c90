import RunJournal
import Testing

@testable import RunsAPI

/// The replay phase: the exact bytes of the first frames, data passed through byte for byte, and long
/// journals written in bounded chunks.
@Suite("Events stream: replay")
struct ReplayTests {
    @Test("the first frame is exactly retry: <ms> and its value is configurable")
    func firstFrameIsRetry() throws {
        let api = try APIHarness { $0.retryMillis = 2500 }
        let id = try api.createRun("r1")
        try api.append(id, "run.completed")
        let writer = api.runStream("r1")
        // The id is the seq and the run's incarnation: its run.created ts (1_800_000_000_000 ms) in base 36.
        #expect(writer.text.hasPrefix("retry: 2500\n\nid: 1.mywpiww0\n"))
        #expect(writer.frames.first?.kind == .retry(2500))
    }

    @Test("every event is framed exactly as id, event, data, with the journal's data bytes unchanged")
    func framesAreByteExact() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1", metadata: #"{"job":"build","tags":["a","b"]}"#)
        let payloads = [
            #"{"text":"héllo wörld ✓ 日本語 🚀"}"#,
            #"{"escaped":"quote \" backslash \\ newline \n tab \t nul \u0000 bell \u0007 slash \/ bmp \u00e9 pair \ud83d\ude80"}"#,
            #"{"nested":{"list":[1,2.5,-3e10,true,false,null,{"deep":[[[]]]}],"empty":{}},"n":0}"#,
            #"[1,"two",{"three":3}]"#,
            #""just a string""#,
            "42",
            "null",
            #"{ "spaced" : [ 1 , 2 ] ,"k":"v" }"#,
        ]
        for payload in payloads { try api.append(id, "step", payload) }
        try api.append(id, "run.completed", #"{"ok":true}"#)

        let writer = api.runStream("r1")
        var expected = "retry: 1000\n\n"
        var expectedBytes = Array(expected.utf8)
        for line in api.journal(id) {
            expected = "id: \(line.seq).mywpiww0\nevent: \(line.type)\ndata: "
            expectedBytes += Array(expected.utf8) + line.data + Array("\n\n".utf8)
        }
        #expect(writer.bytes == expectedBytes)
        // The data slices are the stored compact JSON (not re-encoded by the stream): spot-check two of them.
        let frames = writer.frames.events
        #expect(frames[safe: 1]?.dataText == #"{"text":"héllo wörld ✓ 日本語 🚀"}"#)
        #expect(frames[safe: 8]?.dataText == #"{"spaced":[1,2],"k":"v"}"#)
        #expect(frames.map(\.eventType) == ["run.created"] + Array(repeating: "step", count: payloads.count) + ["run.completed"])
    }

    @Test("a large data payload is passed through whole and byte-identical")
    func largeDataIsByteIdentical() throws {
        let api = try APIHarness { $0.replayChunkBytes = 16 * 1024 }
        let id = try api.createRun("r1")
        let big = String(repeating: "0123456789abcdef\\u00e9é", count: 45_000)  // about 1 MB of JSON string
        try api.append(id, "blob", "{\"big\":\"\(big)\"}")
        try api.append(id, "run.completed")
        let writer = api.runStream("r1")
        let frames = writer.frames
        #expect(frames.malformed.isEmpty)
        let lines = api.journal(id)
        #expect(frames.events.count == 3)
        if frames.events.count == 3, case .event(_, _, _, let data) = frames.events[1].kind {
            #expect(data == lines[safe: 1]?.data)
            #expect(data.count > 1_000_000)
        }
    }

    @Test("a long journal is replayed in bounded chunks, every event present and in order")
    func longReplayIsChunked() throws {
        let chunk = 64 * 1024
        let api = try APIHarness { $0.replayChunkBytes = chunk }
        let id = try api.createRun("r1")
        var seq: Int64 = 1
        for batch in 0..<20 {
            let events = (0..<1000).map { n in ("progress", #"{"batch":\#(batch),"n":\#(n),"pad":"\#(String(repeating: "x", count: 40))"}"#) }
            seq = try api.append(id, batch: events).upperBound
        }
        try api.append(id, "run.completed")
        #expect(seq == 20_001)

        let writer = api.runStream("r1")
        let ids = writer.frames.eventIDs
        #expect(ids.count == 20_002)
        #expect(ids == Array(1...20_002))
        let writes = writer.writes
        let largestFrame = writer.frames.map(\.raw.count).max() ?? 0
        #expect(writes.count >= writer.bytes.count / chunk, "replay must be written in chunks, got \(writes.count) writes")
        #expect(writes.count > 10)
        for write in writes {
            #expect(write.bytes.count <= chunk + largestFrame, "a write of \(write.bytes.count) bytes exceeds the chunk bound")
        }
        #expect(writer.flushTimes.count >= writes.count, "every chunk is flushed")
        #expect(writer.unflushedBytes == 0)
    }

    @Test("replay from a resume point deep in a long journal starts exactly after it")
    func deepResumeStartsAfterIt() throws {
        let api = try APIHarness()
        let id = try api.createRun("r1")
        for _ in 0..<10 {
            try api.append(id, batch: (0..<1000).map { n in ("tick", #"{"n":\#(n)}"#) })
        }
        try api.append(id, "run.completed")
        for resume in [1, 2, 4_999, 5_000, 9_999, 10_000] {
            let writer = api.runStream("r1", lastEventID: String(resume))
            #expect(writer.frames.eventIDs == Array(Int64(resume + 1)...10_002), "resume \(resume)")
        }
    }
}
