import Foundation
import Testing
@testable import RunJournal

/// What the store creates gets the configured permission bits exactly (the umask cannot narrow them), and
/// what replaces or marks a journal gets the journal's own; nothing is opened through a symbolic link.
@Suite("Store: file modes and symbolic links")
struct FileModeTests {
    static func mode(_ path: String) -> mode_t {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        return info.st_mode & 0o7777
    }

    @Test("octal modes parse as permission bits only")
    func parsesOctal() {
        #expect(FileModes.parseOctal("0640") == 0o640)
        #expect(FileModes.parseOctal("640") == 0o640)
        #expect(FileModes.parseOctal("0o600") == 0o600)
        for bad in ["", "0648", "4755", "-640", "+640", "rw-r-----", "07777"] {
            #expect(FileModes.parseOctal(bad) == nil, "\(bad)")
        }
        #expect(FileModes.format(0o640) == "0640")
    }

    @Test("a journal is created with the configured mode whatever the umask, and a keyed create's directory too")
    func createdModes() throws {
        let directory = try TemporaryDirectory()
        let previous = umask(0o077)
        defer { umask(previous) }
        let store = try JournalStore(directory: directory.path, clock: ManualClock(), fileModes: FileModes(journal: 0o660, directory: 0o770))
        try store.create(id: runID("m"))
        _ = try store.create(id: nil, metadata: nil, idempotency: try IdempotencyRecord(key: "k", body: [UInt8]()))
        #expect(Self.mode(directory.file("m.jsonl")) == 0o660)
        #expect(Self.mode(directory.file(".create-keys")) == 0o770)
    }

    @Test("the failure marker gets the journal's mode, and a repair's rewrite keeps it")
    func markerAndRepairKeepTheJournalsMode() throws {
        let directory = try TemporaryDirectory()
        let faults = StoreFaults { operation, path in
            operation == .fdatasync && path.hasSuffix("f.jsonl") ? .fail(errno: EIO) : nil
        }
        let store = try JournalStore(directory: directory.path, clock: ManualClock(), faults: faults, fileModes: FileModes(journal: 0o600))
        try store.create(id: runID("f"))
        #expect(throws: JournalError.self) { try store.append(runID("f"), [try event("step", "{}")]) }
        let journal = directory.file("f.jsonl")
        #expect(Self.mode(journal + ".failed") == 0o600, "marker: \(String(Self.mode(journal + ".failed"), radix: 8))")
        let report = try JournalVerifier.repair(path: journal)
        #expect(report.rewritten)
        #expect(Self.mode(journal) == 0o600)
    }

    @Test("a journal that is a symbolic link is refused, naming the reason")
    func refusesSymlinkedJournals() throws {
        let directory = try TemporaryDirectory()
        let elsewhere = try TemporaryDirectory("elsewhere")
        let writer = try JournalStore(directory: elsewhere.path, clock: ManualClock())
        try writer.create(id: runID("target"))
        #expect(symlink(elsewhere.file("target.jsonl"), directory.file("link.jsonl")) == 0)
        let store = try JournalStore(directory: directory.path, clock: ManualClock())
        let before = readBytes(elsewhere.file("target.jsonl"))
        do {
            try store.append(runID("link"), [try event("step", "{}")])
            Issue.record("appended through a symbolic link")
        } catch let error as JournalError {
            #expect(error.description.contains("symbolic links are refused"), "\(error)")
        }
        #expect(throws: JournalError.self) { _ = try OpenJournal(path: directory.file("link.jsonl")) }
        #expect(readBytes(elsewhere.file("target.jsonl")) == before)
        #expect(try RunCatalog(directory: directory.path).list(limit: 10).runs.isEmpty)
    }
}
