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
    private static func quiet() -> Logger {
        var logger = Logger(label: "tailer.tests")
        logger.logLevel = .critical
        return logger
    }

    /// Polling once an hour: only the in-process path can deliver anything during the test.
    private static func slowTailer() -> JournalTailer {
        JournalTailer(mode: .poll(interval: .seconds(3600)), pollInterval: .seconds(3600), logger: quiet())
    }

    @Test("an append is published before append() returns, without inotify or a poll")
    func appendIsPublishedByTheAppendingThread() throws {
        let dir = try TempDirectory()
        let store = try JournalStore(directory: dir.path, fsyncPolicy: .never, logger: Self.quiet())
        let tailer = Self.slowTailer()
        store.observeAppends(tailer)
        let id = try store.create(id: try RunID("r1"), metadata: nil).id
        let path = store.path(of: id)
        let start = try #require(try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let subscription = try tailer.subscribe(path: path, from: Int64(start), onWake: {})
        defer { subscription.cancel() }
        try store.append(id, [try NewEvent(type: try EventType("log"), json: Array(#"{"n":1}"#.utf8))])
        guard case .lines(let bytes, let offset) = try subscription.read() else {
            Issue.record("the append was not published by the appending thread")
            return
        }
        #expect(offset == Int64(start))
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""n":1"#))
    }

    @Test("with fsync=always a durable-first subscriber gets the line without a second fdatasync by the tailer")
    func theWritersSyncStandsForTheTailers() throws {
        let dir = try TempDirectory()
        let store = try JournalStore(directory: dir.path, fsyncPolicy: .always, logger: Self.quiet())
        let tailer = Self.slowTailer()
        store.observeAppends(tailer)
        let id = try store.create(id: try RunID("r1"), metadata: nil).id
        let path = store.path(of: id)
        let start = try #require(try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let subscription = try tailer.subscribe(path: path, from: Int64(start), syncBeforePublish: true, onWake: {})
        defer { subscription.cancel() }
        for n in 1...5 {
            try store.append(id, [try NewEvent(type: try EventType("log"), json: Array(#"{"n":\#(n)}"#.utf8))])
            guard case .lines(let bytes, _) = try subscription.read() else {
                Issue.record("append \(n) was not published when it returned")
                return
            }
            #expect(String(decoding: bytes, as: UTF8.self).contains(#""n":\#(n)"#))
        }
        #expect(tailer.statistics.syncs == 0)
    }

    @Test("without the writer's sync (another process, or fsync=never) a durable-first subscriber still waits for the tailer's own")
    func linesNotCoveredByTheWritersSyncAreSyncedByTheTailer() async throws {
        let dir = try TempDirectory()
        let store = try JournalStore(directory: dir.path, fsyncPolicy: .never, logger: Self.quiet())
        let tailer = Self.slowTailer()
        store.observeAppends(tailer)
        let id = try store.create(id: try RunID("r1"), metadata: nil).id
        let path = store.path(of: id)
        let start = try #require(try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let subscription = try tailer.subscribe(path: path, from: Int64(start), syncBeforePublish: true, onWake: {})
        defer { subscription.cancel() }
        try store.append(id, [try NewEvent(type: try EventType("log"), json: Array("{}".utf8))])
        let deadline = ContinuousClock.now + .seconds(10)
        var published = false
        while ContinuousClock.now < deadline && !published {
            if case .lines = try subscription.read() { published = true } else { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(published)
        #expect(tailer.statistics.syncs >= 1)
    }
}
