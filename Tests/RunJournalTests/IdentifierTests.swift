import Testing

@testable import RunJournal

@Suite("Run ids and event types")
struct IdentifierTests {
    static let hostileRunIDs = [
        "", "../x", "..", ".", "a/b", "/etc/passwd", ".hidden", "a\u{0}b", "\u{0}", String(repeating: "a", count: 65),
        "-a", "_a", "a b", "a.b", "a.jsonl", "ä", "a\n", "a\\b", "a:b", " a", "a*",
    ]

    @Test("run ids are refused before any path is built", arguments: hostileRunIDs)
    func rejectsHostileRunIDs(text: String) {
        #expect(!RunID.isValid(text))
        #expect(journalError { try RunID(text) } == .invalidRunID(text))
    }

    @Test(
        "run ids of letters, digits, _ and - up to 64 bytes are accepted",
        arguments: ["a", "Z", "0", "run_01jdxkq", "A-b_C-9", "0-", String(repeating: "z", count: 64)])
    func acceptsRunIDs(text: String) throws {
        #expect(try RunID(text).rawValue == text)
    }

    @Test("a hostile id is quoted safely in the error message")
    func quotesHostileIDs() {
        let message = JournalError.invalidRunID("a\u{0}\n\"b").description
        #expect(message.hasPrefix(#"invalid run id "a\u0000\u000a\"b""#))
        #expect(!message.contains("\n"))
        let long = JournalError.invalidRunID(String(repeating: "x", count: 500)).description
        #expect(long.count < 200)
    }

    @Test("generated ids are run_ plus a lowercase ULID whose time part encodes the millisecond")
    func generatedIDShape() throws {
        let id = RunID.generate(at: 1_795_568_523_456)
        #expect(RunID.isValid(id.rawValue))
        #expect(id.rawValue.hasPrefix("run_"))
        let ulid = Array(id.rawValue.utf8.dropFirst(4))
        #expect(ulid.count == 26)
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
        #expect(ulid.allSatisfy { alphabet.contains($0) })
        var millis: Int64 = 0
        for byte in ulid.prefix(10) { millis = millis * 32 + Int64(alphabet.firstIndex(of: byte)!) }
        #expect(millis == 1_795_568_523_456)
    }

    @Test("generated ids sort in creation-time order across milliseconds")
    func generatedIDsAreTimeOrdered() {
        var times: [Int64] = [0, 1, 31, 32, 1023, 1024, 1_795_568_523_456, 1_795_568_523_457, 281_474_976_710_655]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { times.append(Int64.random(in: 0...281_474_976_710_655, using: &generator)) }
        times.sort()
        var previous: (Int64, RunID)?
        for millis in times {
            let id = RunID.generate(at: millis)
            if let (previousMillis, previousID) = previous, previousMillis < millis {
                #expect(previousID < id, "\(previousID) at \(previousMillis) vs \(id) at \(millis)")
            }
            previous = (millis, id)
        }
    }

    @Test("ids generated in the same millisecond are distinct")
    func generatedIDsAreUnique() {
        let ids = Set((0..<5000).map { _ in RunID.generate(at: 1_795_568_523_456) })
        #expect(ids.count == 5000)
    }

    @Test(
        "event types must match ^[a-z][a-z0-9_.:-]{0,63}$",
        arguments: ["", "A", "Run.created", "1a", ".a", "_a", "a b", "a/b", "a\"b", "a\\b", "é", "a\u{0}", String(repeating: "a", count: 65)])
    func rejectsEventTypes(text: String) {
        #expect(!EventType.isValid(text))
        #expect(journalError { try EventType(text) } == .invalidEventType(text))
    }

    @Test("valid event types", arguments: ["a", "run.created", "tool:call-2_x.y", "z9", String(repeating: "a", count: 64)])
    func acceptsEventTypes(text: String) throws {
        #expect(try EventType(text).rawValue == text)
    }

    @Test("the lifecycle types are the documented names and exactly three are terminal")
    func lifecycleTypes() {
        let all: [EventType] = [.created, .started, .waiting, .stopRequested, .completed, .failed, .stopped]
        #expect(all.map(\.rawValue) == [
            "run.created", "run.started", "run.waiting", "run.stop_requested", "run.completed", "run.failed", "run.stopped",
        ])
        #expect(all.filter(\.isTerminal) == [.completed, .failed, .stopped])
        #expect(all.allSatisfy { EventType.isValid($0.rawValue) })
    }

    @Test("fsync policies parse from their CLI spelling and print back the same")
    func fsyncPolicyParsing() {
        #expect(FsyncPolicy(parsing: "always") == .always)
        #expect(FsyncPolicy(parsing: "never") == .never)
        #expect(FsyncPolicy(parsing: "interval:250") == .interval(milliseconds: 250))
        for text in ["always", "never", "interval:1", "interval:250"] {
            #expect(FsyncPolicy(parsing: text)?.description == text)
        }
        for bad in ["", "ALWAYS", "sometimes", "interval", "interval:", "interval:0", "interval:-5", "interval:1.5", "interval:x"] {
            #expect(FsyncPolicy(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test("every error has a stable machine-readable code")
    func errorCodes() {
        let id = runID("r")
        let cases: [(JournalError, String)] = [
            (.invalidRunID("x/"), "invalid_run_id"), (.invalidEventType("X"), "invalid_event_type"),
            (.invalidJSON(offset: 3, reason: "r"), "invalid_json"), (.runNotFound(id), "run_not_found"),
            (.runExists(id), "run_exists"), (.runTerminal(id, .completed), "run_terminal"),
            (.reservedEventType(.created), "reserved_event_type"), (.invalidBatch("b"), "invalid_batch"),
            (.corruptJournal(path: "p", line: 1, reason: "r"), "corrupt_journal"),
            (.io(operation: "open", path: "p", errno: 2), "io_error"),
        ]
        for (error, code) in cases { #expect(error.code == code) }
        #expect(JournalError.invalidJSON(offset: 7, reason: "unexpected 'x'").description == "invalid JSON at byte 7: unexpected 'x'")
        #expect(JournalError.io(operation: "open", path: "/nope", errno: 2).description == "open /nope: No such file or directory")
    }
}

@Test("ids generated in the same millisecond still sort in creation order")
func sameMillisecondIDsAreOrdered() {
    let ids = (0..<1000).map { _ in RunID.generate(at: 1_795_568_523_456) }
    #expect(ids == ids.sorted())
    #expect(Set(ids).count == ids.count)
    #expect(ids.allSatisfy { $0.rawValue.count == 30 })
}
