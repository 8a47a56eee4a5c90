import Foundation
import Logging
import RunJournal
import RunsAPI
import Testing

/// One in-memory API over a real journal directory, in virtual time: the store and the service share a
/// `VirtualClock`, streams sleep through a `VirtualSleeper` and follow journals with a `DirectFollower`.
/// `t0` is the responder's start (`startedAtMillis`) and, unless a test says otherwise, "now" at the start.
struct APIHarness {
    let directory: TemporaryDirectory
    let clock: VirtualClock
    let shutdown: ShutdownSignal
    let sleeper: VirtualSleeper
    let follower: DirectFollower
    let store: JournalStore
    let context: RunsContext
    let service: RunsService
    let t0: Int64

    /// - Parameters:
    ///   - clockStart: where the clock starts (before `t0` to create runs "before the responder started").
    ///   - configure: adjusts the configuration (heartbeat, idle timeout, chunk size...).
    init(
        clockStart: Int64 = VirtualClock.defaultStart, startedAt: Int64 = VirtualClock.defaultStart,
        configure: (inout RunsAPIConfiguration) -> Void = { _ in },
        onFollow: (@Sendable (String, Int64) -> Void)? = nil,
        exposition: (any MetricsExposition)? = nil
    ) throws {
        directory = TemporaryDirectory("api")
        clock = VirtualClock(clockStart)
        shutdown = ShutdownSignal()
        sleeper = VirtualSleeper(clock: clock, shutdown: shutdown, limitMillis: startedAt + 48 * 3_600_000)
        follower = DirectFollower(onFollow: onFollow)
        store = try JournalStore(directory: directory.path, fsyncPolicy: .never, clock: clock, logger: .quietForTests)
        var configuration = RunsAPIConfiguration(startedAtMillis: startedAt)
        configure(&configuration)
        var context = RunsContext(
            store: store, configuration: configuration, follower: follower, clock: clock, sleeper: sleeper,
            shutdown: shutdown, logger: .quietForTests)
        context.metricsExposition = exposition
        self.context = context
        service = RunsService(context: context)
        t0 = startedAt
    }

    /// Milliseconds since `t0`, for readable expectations.
    func at(_ seconds: Double) -> Int64 { t0 + Int64(seconds * 1000) }

    /// Schedules `action` at `t0 + seconds` of virtual time (runs when a stream sleeps past it).
    func schedule(at seconds: Double, _ action: @escaping @Sendable () -> Void) {
        sleeper.schedule(atMillis: at(seconds), action)
    }

    // MARK: Runs and events

    @discardableResult
    func createRun(_ id: String, metadata: String? = nil) throws -> RunID {
        try store.create(id: try RunID(id), metadata: metadata.map { Array($0.utf8) }).id
    }

    @discardableResult
    func append(_ id: RunID, _ type: String, _ json: String = "{}") throws -> ClosedRange<Int64> {
        try store.append(id, [try NewEvent(type: try EventType(type), json: Array(json.utf8))])
    }

    @discardableResult
    func append(_ id: RunID, batch: [(String, String)]) throws -> ClosedRange<Int64> {
        try store.append(id, try batch.map { try NewEvent(type: try EventType($0.0), json: Array($0.1.utf8)) })
    }

    func journalPath(_ id: RunID) -> String { store.path(of: id) }
    func journal(_ id: RunID) -> [JournalLineFields] { journalFields(journalPath(id)) }
    func journalTypes(_ id: RunID) -> [String] { journal(id).map(\.type) }

    // MARK: Requests

    func request(
        _ method: String, _ path: String, query: [(String, String)] = [], headers: [String: String] = [:],
        body: String = ""
    ) -> HTTPResponse {
        service.handle(
            HTTPRequest(
                method: method, path: path, query: query.map { (name: $0.0, value: $0.1) }, headers: headers,
                body: Array(body.utf8)))
    }

    func events(_ id: String, lastEventID: String? = nil, query: String? = nil) -> HTTPResponse {
        var headers: [String: String] = [:]
        if let lastEventID { headers["last-event-id"] = lastEventID }
        return request("GET", "/v1/runs/\(id)/events", query: query.map { [("last_event_id", $0)] } ?? [], headers: headers)
    }

    func writer(
        failOnWrite: Int? = nil, failOnFlush: Int? = nil, detectsHangup: Bool = true,
        onWrite: (@Sendable (Int) -> Void)? = nil
    ) -> RecordingWriter {
        RecordingWriter(clock: clock, failOnWrite: failOnWrite, failOnFlush: failOnFlush, detectsHangup: detectsHangup, onWrite: onWrite)
    }

    /// Opens the event stream of `id` and runs it to its end on this thread (virtual time: no waiting).
    /// Records an issue if the request did not answer 200 with a stream, if the stream threw, or if the
    /// sleeper's safety net had to end it.
    @discardableResult
    func runStream(
        _ id: String, lastEventID: String? = nil, query: String? = nil, writer: RecordingWriter? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> RecordingWriter {
        let writer = writer ?? self.writer()
        let response = events(id, lastEventID: lastEventID, query: query)
        guard response.status == 200, case .stream(let body) = response.body else {
            Issue.record("expected a 200 stream, got \(response.status) \(response.bodyText)", sourceLocation: sourceLocation)
            return writer
        }
        do {
            try body(writer)
        } catch {
            Issue.record("the stream threw \(error)", sourceLocation: sourceLocation)
        }
        if let tripped = sleeper.tripped {
            Issue.record("safety net: \(tripped)", sourceLocation: sourceLocation)
        }
        return writer
    }
}

extension Logger {
    /// Warnings and errors only: the sweeper's and the stream's info lines would drown the test output, but a
    /// warning (a failed lifecycle append, a corrupt journal) should still show.
    static var quietForTests: Logger {
        var logger = Logger(label: "runjournal.api.tests")
        logger.logLevel = .warning
        return logger
    }
}

// MARK: Responses

extension HTTPResponse {
    var bodyBytes: [UInt8] {
        if case .bytes(let bytes) = body { return bytes }
        return []
    }

    var bodyText: String { String(decoding: bodyBytes, as: UTF8.self) }

    var isStream: Bool {
        if case .stream = body { return true }
        return false
    }

    /// The body parsed as a JSON object (nil if it is not one).
    var jsonObject: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(bodyBytes), options: [.fragmentsAllowed])) as? [String: Any]
    }
}

/// Expects the API's one error shape, exactly `{"error":{"code":"…","message":"…"}}` (plus a newline), with
/// `status` and `code`; returns the message for further checks.
@discardableResult
func expectError(
    _ response: HTTPResponse, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation
) -> String {
    #expect(response.status == status, "body: \(response.bodyText)", sourceLocation: sourceLocation)
    #expect(response.header("Content-Type") == "application/json", sourceLocation: sourceLocation)
    #expect(!response.isStream, sourceLocation: sourceLocation)
    let text = response.bodyText
    #expect(text.hasPrefix(#"{"error":{"code":""#) && text.hasSuffix("\"}}\n"), "body: \(text)", sourceLocation: sourceLocation)
    guard let object = response.jsonObject, let error = object["error"] as? [String: Any] else {
        Issue.record("not an error object: \(text)", sourceLocation: sourceLocation)
        return ""
    }
    #expect(Array(object.keys) == ["error"], sourceLocation: sourceLocation)
    #expect(Set(error.keys) == ["code", "message"], sourceLocation: sourceLocation)
    #expect(error["code"] as? String == code, "body: \(text)", sourceLocation: sourceLocation)
    let message = error["message"] as? String ?? ""
    #expect(!message.isEmpty, sourceLocation: sourceLocation)
    return message
}
