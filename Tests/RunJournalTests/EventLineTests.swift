import Testing

@testable import RunJournal

@Suite("Event line format")
struct EventLineTests {
    private func scan(_ text: String) -> (fields: EventLine.Fields?, failure: String) {
        var failure = ""
        let fields = Array(text.utf8).withUnsafeBytes { EventLine.scan($0, failure: &failure) }
        return (fields, failure)
    }

    @Test("writes the envelope byte for byte: seq, ts, type, data in that order, then a newline")
    func writesExactBytes() throws {
        var out = [UInt8]()
        EventLine.append(
            seq: 1, millis: 1_795_568_523_456, type: .created, compactData: Array(#"{"metadata":{"a":[1,2]}}"#.utf8),
            to: &out)
        #expect(
            String(decoding: out, as: UTF8.self)
                == #"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"run.created","data":{"metadata":{"a":[1,2]}}}"# + "\n")
    }

    @Test("appends to what is already in the buffer, so a batch is one buffer")
    func appendsToBuffer() throws {
        var out = [UInt8]()
        EventLine.append(seq: 9_223_372_036_854_775_807, millis: 0, type: try EventType("x"), compactData: Array("null".utf8), to: &out)
        EventLine.append(seq: 10, millis: 5, type: .completed, compactData: Array(#""s""#.utf8), to: &out)
        #expect(
            String(decoding: out, as: UTF8.self)
                == #"{"seq":9223372036854775807,"ts":"1970-01-01T00:00:00.000Z","type":"x","data":null}"# + "\n"
                + #"{"seq":10,"ts":"1970-01-01T00:00:00.005Z","type":"run.completed","data":"s"}"# + "\n")
    }

    @Test("the store writes exactly that form: compact data, fixed key order, ms timestamps")
    func storeWritesExactBytes() throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock(1_795_568_523_456)
        let store = try makeStore(directory, clock: clock)
        let id = runID("r1")
        try store.create(id: id, metadata: Array(#" { "b" : 1 ,  "a" : [ true , null ] } "#.utf8))
        clock.advance(by: 1_001)
        try store.append(id, [try event("step", #"{ "z": "a b", "n": -1.5e3 }"#)])
        clock.set(951_825_600_000)  // the clock jumps back: ts must not
        try store.append(id, [try event("run.completed")])
        #expect(
            readText(store.path(of: id)) == """
                {"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"run.created","data":{"metadata":{"b":1,"a":[true,null]}}}
                {"seq":2,"ts":"2026-11-25T01:02:04.457Z","type":"step","data":{"z":"a b","n":-1.5e3}}
                {"seq":3,"ts":"2026-11-25T01:02:04.457Z","type":"run.completed","data":{}}

                """)
    }

    @Test("scan finds every field of a line the store wrote")
    func scanFindsFields() throws {
        let text = line(42, 1_795_568_523_456, "tool.call:v2", #"{"k":"v"}"#).dropLast()  // without "\n"
        let (fields, failure) = scan(String(text))
        let found = try #require(fields, "\(failure)")
        #expect(found.seq == 42)
        #expect(found.timestampMillis == 1_795_568_523_456)
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[found.type], as: UTF8.self) == "tool.call:v2")
        #expect(String(decoding: bytes[found.data], as: UTF8.self) == #"{"k":"v"}"#)
    }

    @Test(
        "scan accepts any data value and the full seq range",
        arguments: [
            #"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":1}"#,
            #"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":"}"}"#,
            #"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":[]}"#,
            #"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":null}"#,
            #"{"seq":9223372036854775807,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":{}}"#,
            #"{"seq":10,"ts":"2026-11-25T01:02:03.456Z","type":"z0_.:-","data":{}}"#,
        ])
    func scanAccepts(text: String) {
        let (fields, failure) = scan(text)
        #expect(fields != nil, "\(failure)")
    }

    @Test(
        "scan rejects anything but the exact envelope, and says why",
        arguments: [
            ("", "does not start with"),
            (#"{"ts":"2026-11-25T01:02:03.456Z","seq":1,"type":"a","data":{}}"#, "does not start with"),
            (#"{ "seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":{}}"#, "does not start with"),
            (#"{"seq": 1,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":{}}"#, "positive integer"),
            (#"{"seq":0,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":{}}"#, "positive integer"),
            (#"{"seq":01,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":{}}"#, "positive integer"),
            (#"{"seq":-1,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":{}}"#, "positive integer"),
            (#"{"seq":"1","ts":"2026-11-25T01:02:03.456Z","type":"a","data":{}}"#, "positive integer"),
            (#"{"seq":9223372036854775808,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":{}}"#, "64 bits"),
            (#"{"seq":1.0,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":{}}"#, "after seq"),
            (#"{"seq":1,"type":"a","ts":"2026-11-25T01:02:03.456Z","data":{}}"#, "after seq"),
            (#"{"seq":1,"ts":"2026-11-25T01:02:03Z","type":"a","data":{}}"#, "ts is not"),
            (#"{"seq":1,"ts":"2026-02-30T01:02:03.456Z","type":"a","data":{}}"#, "ts is not"),
            (#"{"seq":1,"ts":"2026-11-25T01:02:03.456+00:00","type":"a","data":{}}"#, "ts is not"),
            (#"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","data":{},"type":"a"}"#, "after ts"),
            (#"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"Run.Created","data":{}}"#, "type is not"),
            (#"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"","data":{}}"#, "type is not"),
            (#"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"a\"b","data":{}}"#, "type is not"),
            (#"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"a","extra":1,"data":{}}"#, "after type"),
            (#"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":{}} "#, "does not end"),
            (#"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"a","data":}"#, "does not end"),
            (#"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"a""#, "after type"),
            (#"{"seq":1"#, "after seq"),
        ])
    func scanRejects(text: String, reason: String) {
        let (fields, failure) = scan(text)
        #expect(fields == nil)
        #expect(failure.contains(reason), "failure was \(failure)")
    }
}
