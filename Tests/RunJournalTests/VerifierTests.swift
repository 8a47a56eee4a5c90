import Testing

@testable import RunJournal

/// Verify reads files the store would never write, so these tests write them by hand, line by line.
@Suite("Verify and repair")
struct VerifierTests {
    let directory = TemporaryDirectory("verify")
    let t: Int64 = 1_795_568_523_456

    private func verify(_ lines: [String], tail: String = "") throws -> JournalVerifier.Report {
        let path = directory.file("x.jsonl")
        writeText(path, lines.joined() + tail)
        return try JournalVerifier.verify(path: path)
    }

    private var created: String { line(1, t, "run.created", #"{"metadata":{}}"#) }

    @Test("a journal written by the store is clean")
    func storeJournalIsClean() throws {
        let store = try makeStore(directory)
        let id = runID("ok")
        try store.create(id: id, metadata: Array(#"{"a":"b"}"#.utf8))
        for index in 0..<50 { try store.append(id, [try event("step", #"{"i":\#(index),"s":"\u00e9\n"}"#)]) }
        try store.requestStop(id)
        try store.append(id, [try event("run.stopped", #"{"reason":"asked"}"#)])
        let report = try JournalVerifier.verify(path: store.path(of: id))
        #expect(report.isClean, "\(report.problems)")
        #expect(report.lineCount == 53)
        #expect(report.path == store.path(of: id))
    }

    @Test("a gap in seq is reported at the line after the gap")
    func seqGap() throws {
        let report = try verify([created, line(2, t, "a"), line(4, t, "b"), line(5, t, "c")])
        #expect(report.problems == [.init(line: 3, reason: "seq 4, expected 3")])
    }

    @Test("a repeated seq is reported")
    func seqRepeated() throws {
        let report = try verify([created, line(2, t, "a"), line(2, t, "b")])
        #expect(report.problems == [.init(line: 3, reason: "seq 2, expected 3")])
    }

    @Test("a seq that does not start at 1 is reported")
    func seqNotFromOne() throws {
        let report = try verify([line(2, t, "run.created", #"{"metadata":{}}"#)])
        #expect(report.problems == [.init(line: 1, reason: "seq 2, expected 1")])
    }

    @Test("ts going backwards is reported")
    func timestampBackwards() throws {
        let report = try verify([created, line(2, t + 5, "a"), line(3, t + 4, "b"), line(4, t + 5, "c")])
        #expect(report.problems == [.init(line: 3, reason: "ts goes backwards (2026-11-25T01:02:03.460Z)")])
    }

    @Test("a line with keys out of order is reported and verify goes on")
    func wrongKeyOrder() throws {
        let bad = #"{"seq":2,"type":"a","ts":"2026-11-25T01:02:03.456Z","data":{}}"# + "\n"
        let report = try verify([created, bad, line(3, t, "b"), line(4, t - 1, "c")])
        #expect(report.problems.map(\.line) == [2, 4])
        #expect(report.problems.first?.reason.contains("after seq") == true)
        #expect(report.lineCount == 4)
    }

    @Test("data that is not compact is reported", arguments: [#"{"a": 1}"#, #"{ "a":1}"#, "[1, 2]", " 1"])
    func nonCompactData(data: String) throws {
        let report = try verify([created, line(2, t, "a", data)])
        #expect(report.problems == [.init(line: 2, reason: "data is not valid compact JSON")])
    }

    @Test("data that is not JSON is reported", arguments: [#"{"a":}"#, "{", "tru", #""\x""#, "1 2", "{}}"])
    func invalidData(data: String) throws {
        let report = try verify([created, line(2, t, "a", data)])
        #expect(report.problems == [.init(line: 2, reason: "data is not valid compact JSON")])
    }

    @Test("two terminal events are reported at the second")
    func twoTerminals() throws {
        let report = try verify([created, line(2, t, "run.completed"), line(3, t, "run.failed")])
        #expect(report.problems == [.init(line: 3, reason: "event after the terminal event at line 2")])
    }

    @Test("an event after the terminal event is reported")
    func eventAfterTerminal() throws {
        let report = try verify([created, line(2, t, "run.stopped"), line(3, t, "log"), line(4, t, "log")])
        #expect(report.problems == [
            .init(line: 3, reason: "event after the terminal event at line 2"),
            .init(line: 4, reason: "event after the terminal event at line 2"),
        ])
    }

    @Test("run.created must be the first line and only the first")
    func createdNotFirst() throws {
        var report = try verify([line(1, t, "run.started"), line(2, t, "a")])
        #expect(report.problems == [.init(line: 1, reason: "first event is run.started, not run.created")])
        report = try verify([created, line(2, t, "run.created", #"{"metadata":{}}"#)])
        #expect(report.problems == [.init(line: 2, reason: "run.created after the first line")])
    }

    @Test("run.stop_requested may appear only once")
    func stopRequestedTwice() throws {
        let report = try verify([created, line(2, t, "run.stop_requested"), line(3, t, "log"), line(4, t, "run.stop_requested")])
        #expect(report.problems == [.init(line: 4, reason: "run.stop_requested again (first at line 2)")])
    }

    @Test(
        "run.created data must be {\"metadata\":{…}}",
        arguments: ["{}", #"{"metadata":[]}"#, #"{"metadata":{},"x":1}"#, #"{"meta":{}}"#, "null", #"{"metadata":"x"}"#])
    func createdData(data: String) throws {
        let report = try verify([line(1, t, "run.created", data), line(2, t, "a")])
        #expect(report.problems == [.init(line: 1, reason: #"run.created data is not {"metadata":{…}}"#)])
    }

    @Test("an empty file is not a journal")
    func emptyFile() throws {
        let report = try verify([])
        #expect(report.problems == [.init(line: 1, reason: "no complete line (a journal starts with run.created)")])
        #expect(report.lineCount == 0)
        #expect(!report.isClean)
    }

    @Test("a torn tail is reported apart from rule violations")
    func tornTail() throws {
        let report = try verify([created, line(2, t, "a")], tail: #"{"seq":3,"#)
        #expect(report.problems.isEmpty)
        #expect(report.tornTailBytes == 9)
        #expect(report.lineCount == 2)
        #expect(!report.isClean)
    }

    @Test("a file that is only a torn line has no complete line")
    func onlyTornTail() throws {
        let report = try verify([], tail: String(created.dropLast()))
        #expect(report.tornTailBytes == Int64(created.utf8.count - 1))
        #expect(report.problems.map(\.line) == [1])
    }

    @Test("problems are capped at maxProblems")
    func problemCap() throws {
        let lines = [created] + (2...300).map { line(Int64($0) * 2, t, "a") }
        writeText(directory.file("x.jsonl"), lines.joined())
        let report = try JournalVerifier.verify(path: directory.file("x.jsonl"), maxProblems: 10)
        #expect(report.problems.count == 10)
        #expect(report.lineCount == 300)
    }

    @Test("verify reads lines longer than its buffer")
    func longLines() throws {
        let big = "{\"s\":\"" + String(repeating: "x", count: 3 << 20) + "\"}"
        let report = try verify([created, line(2, t, "big", big), line(3, t, "run.completed")])
        #expect(report.isClean, "\(report.problems)")
        #expect(report.lineCount == 3)
    }

    @Test("verify of a missing file is an io error")
    func missingFile() {
        #expect(journalError { try JournalVerifier.verify(path: directory.file("nope.jsonl")) } == .io(operation: "open", path: directory.file("nope.jsonl"), errno: 2))
    }

    @Test("repair truncates only the torn tail; every good line stays byte-identical")
    func repairTruncatesTornTail() throws {
        let good = [created, line(2, t, "a", #"{"k":[1,2]}"#), line(3, t + 1, "b")].joined()
        let path = directory.file("x.jsonl")
        let torn = #"{"seq":4,"ts":"2026-11-25T01:0"#
        writeText(path, good + torn)
        let report = try JournalVerifier.repair(path: path)
        #expect(report.repaired)
        #expect(report.tornTailBytes == Int64(torn.utf8.count))
        #expect(report.problems.isEmpty)
        #expect(readText(path) == good)
        #expect(try JournalVerifier.verify(path: path).isClean)
    }

    @Test("repair of a clean journal changes nothing")
    func repairClean() throws {
        let good = [created, line(2, t, "a")].joined()
        let path = directory.file("x.jsonl")
        writeText(path, good)
        let report = try JournalVerifier.repair(path: path)
        #expect(!report.repaired)
        #expect(report.isClean)
        #expect(readText(path) == good)
    }

    @Test("repair never rewrites a bad line: other problems stay, only the tail goes")
    func repairLeavesOtherProblems() throws {
        let content = [created, line(3, t, "a"), line(4, t, "run.completed"), line(5, t, "late")].joined()
        let path = directory.file("x.jsonl")
        writeText(path, content)
        var report = try JournalVerifier.repair(path: path)
        #expect(!report.repaired)
        #expect(report.problems.count == 2)
        #expect(readText(path) == content)

        appendText(path, "{\"seq\":6")
        report = try JournalVerifier.repair(path: path)
        #expect(report.repaired)
        #expect(report.problems.count == 2)
        #expect(readText(path) == content)
    }

    @Test("after repair the store appends with the next seq")
    func appendAfterRepair() throws {
        let store = try makeStore(directory)
        let id = runID("r")
        try store.create(id: id)
        try store.append(id, [try event("a")])
        _ = try store.summary(of: id)
        appendText(store.path(of: id), "{\"seq\":3,\"ts\":\"")
        #expect(try JournalVerifier.repair(path: store.path(of: id)).repaired)
        #expect(try store.append(id, [try event("b")]) == 3...3)
        #expect(try JournalVerifier.verify(path: store.path(of: id)).isClean)
        #expect(try store.summary(of: id).lastSeq == 3)
    }
}
