import Foundation
import JournalTailer
import RunJournal
import Synchronization
import Testing

@testable import RunsAPI

/// A batch goes out whole, through the real tailer, even when a subscriber reads it in pieces smaller than
/// the batch (each piece ends inside the batch: its lines are committed, only their batch's last line is in a
/// later piece).
@Suite("Stream: batches through the real tailer")
struct BatchStreamTests {
    @Test("a 200-event batch appended live reaches the client complete and in order, read in 512-byte pieces")
    func liveBatchInPieces() throws {
        let directory = TemporaryDirectory("batches")
        let store = try JournalStore(directory: directory.path, fsyncPolicy: .never, logger: .quietForTests)
        let tailer = JournalTailer(mode: .inotify, logger: .quietForTests)
        var configuration = RunsAPIConfiguration(startedAtMillis: SystemClock().nowMillis())
        configuration.replayChunkBytes = 512
        configuration.idleTimeoutSeconds = nil
        let context = RunsContext(
            store: store, configuration: configuration, follower: TailerFollower(tailer: tailer, syncBeforePublish: false),
            logger: .quietForTests)
        let service = RunsService(context: context)
        let id = try RunID("b")
        try store.create(id: id)
        try store.append(id, [try NewEvent(type: try EventType("first"), json: Array("{}".utf8))])

        let response = service.handle(HTTPRequest(method: "GET", path: "/v1/runs/b/events", query: [], headers: [:], body: []))
        guard case .stream(let body) = response.body else {
            Issue.record("expected a stream, got \(response.status)")
            return
        }
        let writer = RecordingWriter(clock: SystemClock())
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            do { try body(writer) } catch { Issue.record("stream threw \(error)") }
            done.signal()
        }
        thread.start()
        // Wait until the stream is live (it sent the first event), then append the batch and the end.
        let deadline = Date().addingTimeInterval(60)
        while !writer.text.contains("event: first"), Date() < deadline { usleep(2000) }
        let batch = try (0..<200).map { try NewEvent(type: try EventType("step"), json: Array(#"{"i":\#($0),"pad":"\#(String(repeating: "x", count: 40))"}"#.utf8)) }
        #expect(try store.append(id, batch) == 3...202)
        try store.append(id, [try NewEvent(type: .completed, json: Array("{}".utf8))])
        #expect(done.wait(timeout: .now() + 60) == .success, "the stream did not end")
        let ids = writer.text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4).prefix { $0 != "." }) }
        #expect(ids == (1...203).map(String.init), "sent ids: \(ids.count)")
    }
}
