import Logging
import RunsAPI
import Synchronization
import Testing

/// The request log line's fields, and the principal reaching it from a copy of the request.
@Suite("Request log")
struct RequestLogTests {
    /// Keeps every record logged through it.
    final class Recorder: Sendable {
        let records = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])

        func logger(level: Logger.Level = .info) -> Logger {
            var logger = Logger(label: "test.http") { _ in RecordingHandler(recorder: self) }
            logger.logLevel = level
            return logger
        }
    }

    struct RecordingHandler: LogHandler {
        let recorder: Recorder
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.records.withLock { $0.append((event.level, "\(event.message)", event.metadata ?? [:])) }
        }
    }

    @Test("a line carries method, route pattern, status, duration, run id and the token name set on a copy")
    func fields() throws {
        let recorder = Recorder()
        let request = HTTPRequest(method: "POST", path: "/v1/runs/build-7/events", query: [("access_token", "secret")])
        let copy = request
        copy.principal = "ci-writer"  // what an auth layer does with its copy
        #expect(request.principal == "ci-writer")

        RequestLog(logger: recorder.logger()).requestCompleted(CompletedRequest(
            method: request.method, path: request.path, status: 201, duration: .microseconds(2_345), principal: request.principal))
        let records = recorder.records.withLock { $0 }
        try #require(records.count == 1)
        #expect(records[0].level == .info)
        #expect(records[0].message == "request")
        let metadata = records[0].metadata.mapValues { "\($0)" }
        #expect(metadata == [
            "method": "POST", "route": "/v1/runs/:id/events", "status": "201", "duration_ms": "2.3",
            "run_id": "build-7", "token": "ci-writer",
        ])
    }

    @Test("route patterns: every API route, the health endpoints, and nothing raw for the rest", arguments: [
        ("/v1/runs", "/v1/runs", nil),
        ("/v1/runs/", "/v1/runs", nil),
        ("/v1/runs/a1", "/v1/runs/:id", "a1"),
        ("/v1/runs/a1/events", "/v1/runs/:id/events", "a1"),
        ("/v1/runs/a1/stop", "/v1/runs/:id/stop", "a1"),
        ("/v1/runs/bad\nid/events", "/v1/runs/:id/events", "(invalid)"),
        ("/healthz", "/healthz", nil),
        ("/readyz", "/readyz", nil),
        ("/metrics", "/metrics", nil),
        ("/etc/passwd", "(unmatched)", nil),
        ("", "(unmatched)", nil),
    ] as [(String, String, String?)])
    func patterns(path: String, pattern: String, runID: String?) {
        let route = RoutePattern(path: path)
        #expect(route.pattern == pattern)
        #expect(route.runID == runID)
    }

    @Test("above info nothing is logged")
    func quietAboveInfo() {
        let recorder = Recorder()
        RequestLog(logger: recorder.logger(level: .warning)).requestCompleted(
            CompletedRequest(method: "GET", path: "/healthz", status: 200, duration: .zero, principal: nil))
        #expect(recorder.records.withLock { $0.isEmpty })
    }
}
