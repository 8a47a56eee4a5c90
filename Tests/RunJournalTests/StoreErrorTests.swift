import Testing

@testable import RunJournal

#if canImport(Glibc)
import Glibc
#endif

/// Every way the store can refuse, each with the error that names it.
@Suite("Store errors")
struct StoreErrorTests {
    let directory = TemporaryDirectory("errors")

    @Test("opening a store on a missing directory fails with ENOENT")
    func missingDirectory() {
        let path = directory.file("missing")
        #expect(journalError { try JournalStore(directory: path) } == .io(operation: "open journal directory", path: path, errno: ENOENT))
    }

    @Test("opening a store on a file fails with ENOTDIR")
    func notADirectory() {
        let path = directory.file("file")
        writeText(path, "x")
        #expect(journalError { try JournalStore(directory: path) } == .io(operation: "open journal directory", path: path, errno: ENOTDIR))
    }

    @Test("a directory removed after the store opened it fails create with an io error")
    func directoryRemovedLater() throws {
        let path = directory.file("gone")
        try makeDirectory(path)
        let store = try JournalStore(directory: path, fsyncPolicy: .never)
        rmdir(path)
        let error = journalError { try store.create(id: runID("a")) }
        guard case .io(let operation, _, let code)? = error else {
            Issue.record("expected io, got \(String(describing: error))")
            return
        }
        #expect(operation == "open")
        #expect(code == ENOENT)
    }

    @Test("every operation on an unknown run is runNotFound and creates nothing")
    func unknownRun() throws {
        let store = try makeStore(directory)
        let id = runID("ghost")
        #expect(journalError { try store.summary(of: id) } == .runNotFound(id))
        #expect(journalError { try store.append(id, [try event("a")]) } == .runNotFound(id))
        #expect(journalError { try store.requestStop(id) } == .runNotFound(id))
        #expect(journalError { try store.appendIf(id) { _ in nil } } == .runNotFound(id))
        #expect(journalError { try store.openReader(id) } == .runNotFound(id))
        #expect(!store.exists(id))
        #expect(directory.names().isEmpty)
        #expect(JournalError.runNotFound(id).description == "run ghost not found")
    }

    @Test("event data that is not JSON is refused with the byte offset", arguments: [
        (#"{"a":tru}"#, 5), (#"{"a":1,}"#, 7), ("[1 2]", 3), ("", 0), (#"{"a":"\q"}"#, 6),
    ] as [(String, Int)])
    func invalidEventData(json: String, offset: Int) throws {
        let error = journalError { try event("step", json) }
        guard case .invalidJSON(let found, let reason)? = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
        #expect(found == offset, "\(reason)")
        #expect(!reason.isEmpty)
    }

    @Test("producer input: one event object with only type and data")
    func eventInput() throws {
        let parsed = try EventInput.event(fromJSON: Array(#" { "type" : "log" , "data" : { "m" : [ 1 ] } } "#.utf8))
        #expect(parsed.type.rawValue == "log")
        #expect(String(decoding: parsed.data, as: UTF8.self) == #"{"m":[1]}"#)
        let bare = try EventInput.event(fromJSON: Array(#"{"type":"x"}"#.utf8))
        #expect(String(decoding: bare.data, as: UTF8.self) == "{}")

        #expect(journalError { try EventInput.event(fromJSON: Array(#"{"data":{}}"#.utf8)) } == .invalidJSON(offset: -1, reason: "missing \"type\""))
        #expect(journalError { try EventInput.event(fromJSON: Array(#"{"type":"x","extra":1}"#.utf8)) }?.code == "invalid_json")
        #expect(journalError { try EventInput.event(fromJSON: Array(#"{"type":"Bad Type"}"#.utf8)) } == .invalidEventType("Bad Type"))
        #expect(journalError { try EventInput.event(fromJSON: Array(#"{"type":5}"#.utf8)) } == .invalidEventType("5"))
        #expect(journalError { try EventInput.event(fromJSON: Array("[]".utf8)) }?.code == "invalid_json")
    }

    @Test("NDJSON errors name the line; blank lines are skipped; an empty body is refused")
    func ndjsonInput() throws {
        let events = try EventInput.events(fromNDJSON: Array("{\"type\":\"a\"}\n\n  \r\n{\"type\":\"b\",\"data\":1}\r\n".utf8))
        #expect(events.map(\.type.rawValue) == ["a", "b"])
        let error = journalError { try EventInput.events(fromNDJSON: Array("{\"type\":\"a\"}\n{\"type\":\"b\",\"data\":[}\n".utf8)) }
        guard case .invalidJSON(_, let reason)? = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
        #expect(reason.hasPrefix("line 2, byte "))
        let badType = journalError { try EventInput.events(fromNDJSON: Array("\n\n{\"type\":\"X\"}".utf8)) }
        guard case .invalidJSON(_, let typeReason)? = badType else {
            Issue.record("expected invalidJSON, got \(String(describing: badType))")
            return
        }
        #expect(typeReason.hasPrefix("line 3: invalid event type"))
        #expect(journalError { try EventInput.events(fromNDJSON: Array("\n \n".utf8)) } == .invalidBatch("no events in the body"))
    }

    @Test("a journal whose last line is not an event cannot be appended to")
    func corruptLastLine() throws {
        let store = try makeStore(directory)
        let id = runID("c")
        writeText(store.path(of: id), line(1, 0, "run.created", #"{"metadata":{}}"#) + "garbage\n")
        let before = readBytes(store.path(of: id))
        let error = journalError { try store.append(id, [try event("a")]) }
        #expect(error == .corruptJournal(path: store.path(of: id), line: 0, reason: "last line is not a valid event (run verify)"))
        #expect(readBytes(store.path(of: id)) == before)
        #expect(journalError { try store.summary(of: id) }?.code == "corrupt_journal")
    }

    @Test("an empty journal file cannot be appended to")
    func emptyJournal() throws {
        let store = try makeStore(directory)
        let id = runID("e")
        writeText(store.path(of: id), "")
        #expect(journalError { try store.append(id, [try event("a")]) }?.code == "corrupt_journal")
        #expect(fileSize(store.path(of: id)) == 0)
    }

    @Test("a journal that is a directory is an io error, not a crash")
    func journalIsDirectory() throws {
        let store = try makeStore(directory)
        try makeDirectory(directory.file("d.jsonl"))
        let error = journalError { try store.append(runID("d"), [try event("a")]) }
        #expect(error == .io(operation: "open", path: directory.file("d.jsonl"), errno: EISDIR))
    }
}
