import CoreMetrics
import MetricsTestKit
import RunJournal
import Testing

@testable import RunsAPI

/// What the API, the store and the lifecycle rules record through swift-metrics, read back from a
/// `TestMetrics` factory bound (task-locally) while the harness makes its store and context.
@Suite("API metrics")
struct APIMetricsTests {
    private func harness(
        _ metrics: TestMetrics, configure: (inout RunsAPIConfiguration) -> Void = { _ in }
    ) throws -> APIHarness {
        try withMetricsFactory(metrics) { try APIHarness(configure: configure) }
    }

    private func responses(_ metrics: TestMetrics, _ route: String, _ status: Int) -> Int64 {
        metrics.counterTotal(label: "runjournal_http_responses_total", dimensions: [("route", route), ("status", String(status))])
    }

    @Test("responses are counted by route pattern and status, never by raw path")
    func responsesByRoutePattern() throws {
        let metrics = TestMetrics()
        let api = try harness(metrics)
        #expect(api.request("POST", "/v1/runs", headers: ["content-type": "application/json"], body: #"{"id":"r1"}"#).status == 201)
        for _ in 0..<2 {
            #expect(api.request("POST", "/v1/runs/r1/events", headers: ["content-type": "application/json"], body: #"{"type":"step"}"#).status == 201)
        }
        #expect(api.request("GET", "/v1/runs/r1").status == 200)
        #expect(api.request("GET", "/v1/runs/nope").status == 404)
        #expect(api.request("GET", "/elsewhere").status == 404)
        #expect(api.request("DELETE", "/v1/runs/r1").status == 405)

        #expect(responses(metrics, "/v1/runs", 201) == 1)
        #expect(responses(metrics, "/v1/runs/:id/events", 201) == 2)
        #expect(responses(metrics, "/v1/runs/:id", 200) == 1)
        #expect(responses(metrics, "/v1/runs/:id", 404) == 1)
        #expect(responses(metrics, "/v1/runs/:id", 405) == 1)
        #expect(responses(metrics, "unmatched", 404) == 1)
        let routes = Set(metrics.counters(label: "runjournal_http_responses_total").compactMap { counter in
            counter.dimensions.first { $0.0 == "route" }?.1
        })
        #expect(routes == ["/v1/runs", "/v1/runs/:id", "/v1/runs/:id/events", "unmatched"])
    }

    @Test("the store counts appended events (not run.created) and times appends")
    func storeCountsEvents() throws {
        let metrics = TestMetrics()
        let api = try harness(metrics)
        let id = try api.createRun("r1")
        try api.append(id, "step")
        try api.append(id, batch: [("step", "{}"), ("step", "{}"), ("step", "{}")])
        #expect(metrics.counterTotal(label: "runjournal_events_appended_total") == 4)
        #expect(metrics.counterTotal(label: "runjournal_runs_created_total") == 1)
        #expect(try metrics.expectTimer("runjournal_append_duration_seconds").values.count == 2)
    }

    @Test("a stream is open while its body runs; its frames and heartbeats are counted")
    func streamGaugeFramesAndHeartbeats() throws {
        let metrics = TestMetrics()
        let api = try harness(metrics) { $0.heartbeatSeconds = 4 }
        let id = try api.createRun("r1")
        try api.append(id, "run.waiting")
        let response = api.events("r1")
        // Not counted until its body starts: the transport may still refuse it at its stream cap.
        #expect(responses(metrics, "/v1/runs/:id/events", 200) == 0)
        let writer = api.writer()
        api.schedule(at: 13) { writer.hangUp() }
        guard case .stream(let body) = response.body else {
            Issue.record("not a stream: \(response.status)")
            return
        }
        try body(writer)
        #expect(responses(metrics, "/v1/runs/:id/events", 200) == 1)
        #expect(try metrics.expectMeter("runjournal_streams_open").values == [1, 0])
        #expect(metrics.counterTotal(label: "runjournal_sse_frames_sent_total") == 2)  // run.created, run.waiting
        #expect(metrics.counterTotal(label: "runjournal_heartbeats_sent_total") == 3)  // at 4, 8 and 12 s
    }

    @Test("a stream parked on the transport's loop is an open stream until the transport finishes it")
    func parkedStreamCountsAsOpenUntilFinished() throws {
        let metrics = TestMetrics()
        let api = try harness(metrics)
        let id = try api.createRun("r1")
        guard case .stream(let body) = api.events("r1").body else {
            Issue.record("not a stream")
            return
        }
        let writer = ParkingWriter()
        try body(writer)
        let stream = try #require(writer.parked)
        // The body returned (its worker is free), the stream goes on.
        #expect(try metrics.expectMeter("runjournal_streams_open").values == [1])
        try api.append(id, "run.completed")
        #expect(try stream.step(readLimit: 65536).outcome == .terminalSent)
        stream.finish()
        stream.finish()  // idempotent, and counted once
        #expect(try metrics.expectMeter("runjournal_streams_open").values == [1, 0])
    }

    @Test("the watchdog and the stop grace are counted when they append, once each")
    func lifecycleRulesAreCounted() throws {
        let metrics = TestMetrics()
        let api = try harness(metrics)
        let idle = try api.createRun("idle")
        let stopped = try api.createRun("stopped")
        try api.append(stopped, "run.waiting")
        _ = try api.store.requestStop(stopped)
        let sweeper = LifecycleSweeper(context: api.context, intervalSeconds: 1)
        sweeper.sweepOnce()
        api.clock.advance(to: api.at(300))
        #expect(Set(sweeper.sweepOnce()) == [idle, stopped])
        sweeper.sweepOnce()
        #expect(metrics.counterTotal(label: "runjournal_watchdog_failures_total") == 1)
        #expect(metrics.counterTotal(label: "runjournal_stop_grace_total") == 1)
    }

    @Test("GET /metrics renders the exposition it was given, and is 404 without one")
    func metricsRoute() throws {
        var api = try harness(TestMetrics())
        expectError(api.request("GET", "/metrics"), 404, "not_found")
        api = try withMetricsFactory(TestMetrics()) {
            try APIHarness(exposition: FixedExposition())
        }
        let response = api.request("GET", "/metrics")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.bodyText == "# TYPE x counter\nx 1\n")
        #expect(api.request("POST", "/metrics").status == 405)
    }
}

/// A fixed scrape, to see the route hand over the exposition's bytes and content type.
private struct FixedExposition: MetricsExposition {
    let contentType = "text/plain; version=0.0.4; charset=utf-8"
    func render() -> [UInt8] { Array("# TYPE x counter\nx 1\n".utf8) }
}
