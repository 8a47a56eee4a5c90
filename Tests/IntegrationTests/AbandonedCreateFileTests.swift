import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `.create-*.tmp` files a crashed `create` leaves behind: `serve` removes them when it starts and
/// `verify --repair` removes them on demand, but only those untouched for 60 s, so a create in progress in
/// another process keeps its temporary file.
@Suite("Abandoned create files")
struct AbandonedCreateFileTests {
    static let abandoned = ".create-01JD5X6V7W8Y9Z0A1B2C3D4E5F.tmp"
    static let inProgress = ".create-01JD5X6V7W8Y9Z0A1B2C3D4E60.tmp"

    /// One temporary file last touched 10 minutes ago (a crash) and one touched now (a create in progress).
    static func leaveTemporaryFiles(in journal: String) throws {
        let line = #"{"seq":1,"ts":"2026-11-25T01:02:03.456Z","type":"run.created","data":{"metadata":{}}}"# + "\n"
        for name in [abandoned, inProgress] {
            #expect(FileManager.default.createFile(atPath: journal + "/" + name, contents: Data(line.utf8)))
        }
        var times = [timeval(tv_sec: time(nil) - 600, tv_usec: 0), timeval(tv_sec: time(nil) - 600, tv_usec: 0)]
        #expect(utimes(journal + "/" + abandoned, &times) == 0)
    }

    static func names(_ journal: String) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: journal)) ?? [])
    }

    @Test("verify --repair removes a temporary file older than 60 s and keeps a fresh one")
    func verifyRepairRemovesAbandonedCreateFiles() throws {
        let journal = try OpsCLI.emptyJournal()
        #expect(try OpsCLI.run(["create", "--journal", journal.path, "--id", "r1"]).status == 0)
        try Self.leaveTemporaryFiles(in: journal.path)

        let check = try OpsCLI.run(["verify", "--journal", journal.path])
        #expect(check.status == 0, "\(check)")
        #expect(Self.names(journal.path).isSuperset(of: [Self.abandoned, Self.inProgress]), "verify alone changes nothing")

        let repair = try OpsCLI.run(["verify", "--repair", "--journal", journal.path])
        #expect(repair.status == 0, "\(repair)")
        #expect(repair.stdout.contains("removed \(Self.abandoned): a temporary file left by a crashed create"), "\(repair)")
        #expect(!Self.names(journal.path).contains(Self.abandoned))
        #expect(Self.names(journal.path).contains(Self.inProgress), "a create in progress keeps its file")
        #expect(Self.names(journal.path).contains("r1.jsonl"))
    }

    @Test("serve removes temporary files older than 60 s when it starts and keeps a fresh one")
    func serveRemovesAbandonedCreateFilesAtStart() throws {
        let directory = try TemporaryDirectory(prefix: "rjd")
        let journal = try directory.makeDirectory("journal")
        try Self.leaveTemporaryFiles(in: journal)
        let server = try RunJournalProcess.serve(directory: directory)
        defer { server.stop() }
        #expect(!Self.names(journal).contains(Self.abandoned), "\(server.stderr)")
        #expect(Self.names(journal).contains(Self.inProgress), "a create in progress keeps its file")
    }
}
