import Foundation
import Logging
import RunJournal
import Testing
@testable import JournalTailer
import SystemSupport

/// Appends made by this process's store reach subscribers from the appending thread (`JournalAppendObserver`),
/// and with `fsync=always` the writer's sync stands for the tailer's.
@Suite("In-process appends")
struct InProcessAppendTests {
    fileprivate static func quiet() -> Logger {
        var logger = Logger(label: "tailer.tests")
        logger.logLevel = .critical
        return logger
    }

    /// A store whose appends are reported to a tailer that polls once an hour (only the in-process path can
    /// deliver anything during a test), one run in it, and a subscription from the run's end.
    private struct Fixture {
        let dir: TempDirectory
        let store: JournalStore
        let tailer: JournalTailer
        let id: RunID
        let subscription: JournalSubscription
        /// The offset the subscription starts at (the end of `run.created`).
        let start: Int64

        init(fsync: FsyncPolicy, syncBeforePublish: Bool) throws {
            dir = try TempDirectory()
            store = try JournalStore(directory: dir.path, fsyncPolicy: fsync, logger: InProcessAppendTests.quiet())
            tailer = JournalTailer(mode: .poll(interval: .seconds(3600)), pollInterval: .seconds(3600), logger: InProcessAppendTests.quiet())
            store.observeAppends(tailer)
            id = try store.create(id: try RunID("r1"), metadata: nil).id
            let path = store.path(of: id)
            start = try Sys.stat(path).size
            subscription = try tailer.subscribe(path: path, from: start, syncBeforePublish: syncBeforePublish, onWake: {})
        }

        func append(_ json: String) throws {
            try store.append(id, [try NewEvent(type: try EventType("log"), json: Array(json.utf8))])
        }

        func close() {
            subscription.cancel()
            dir.remove()
        }
    }

    @Test("an append is published before append() returns, without inotify or a poll")
    func appendIsPublishedByTheAppendingThread() throws {
        let fixture = try Fixture(fsync: .never, syncBeforePublish: false)
        defer { fixture.close() }
        try fixture.append(#"{"n":1}"#)
        guard case .lines(let bytes, let offset) = try fixture.subscription.read() else {
            Issue.record("the append was not published by the appending thread")
            return
        }
        #expect(offset == fixture.start)
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""n":1"#))
    }

    @Test("with fsync=always a durable-first subscriber gets the line without a second fdatasync by the tailer")
    func theWritersSyncStandsForTheTailers() throws {
        let fixture = try Fixture(fsync: .always, syncBeforePublish: true)
        defer { fixture.close() }
        for n in 1...5 {
            try fixture.append(#"{"n":\#(n)}"#)
            guard case .lines(let bytes, _) = try fixture.subscription.read() else {
                Issue.record("append \(n) was not published when it returned")
                return
            }
            #expect(String(decoding: bytes, as: UTF8.self).contains(#""n":\#(n)"#))
        }
        #expect(fixture.tailer.statistics.syncs == 0)
    }

    @Test("without the writer's sync (another process, or fsync=never) a durable-first subscriber still waits for the tailer's own")
    func linesNotCoveredByTheWritersSyncAreSyncedByTheTailer() async throws {
        let fixture = try Fixture(fsync: .never, syncBeforePublish: true)
        defer { fixture.close() }
        try fixture.append("{}")
        let deadline = ContinuousClock.now + .seconds(10)
        var published = false
        while ContinuousClock.now < deadline && !published {
            if case .lines = try fixture.subscription.read() { published = true } else { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(published)
        #expect(fixture.tailer.statistics.syncs >= 1)
    }
}
