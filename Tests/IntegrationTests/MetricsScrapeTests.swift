import Foundation
import Testing

/// `GET /metrics` end to end: the real responder behind the shipped nginx config, its scrape checked by
/// `promtool check metrics` and scraped by a real Prometheus server. Each test starts its own stack, so the
/// counters it reads start from zero.
@Suite("Metrics: promtool and a real Prometheus through nginx")
struct MetricsScrapeTests {
    /// What the issue asks every scrape to carry.
    static let requiredFamilies = [
        "runjournal_streams_open", "runjournal_events_appended_total", "runjournal_append_duration_seconds",
        "runjournal_fsync_duration_seconds", "runjournal_http_responses_total", "runjournal_sse_frames_sent_total",
        "runjournal_heartbeats_sent_total", "runjournal_watchdog_failures_total", "runjournal_stop_grace_total",
        "runjournal_tailer_wakeups_total", "runjournal_tailer_poll_fallbacks_total", "runjournal_journals_failed_total",
        "process_threads", "process_open_fds", "process_resident_memory_bytes",
    ]

    /// The value of the sample `name{labels}` in a text-format scrape (labels written as in the scrape).
    static func sample(_ scrape: String, _ series: String) -> Double? {
        for line in scrape.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1).split(separator: " ").first ?? "")
        }
        return nil
    }

    @Test("the scrape through nginx passes promtool check metrics and names routes by pattern")
    func scrapePassesPromtool() async throws {
        let promtool = try #require(ChildProcess.find("promtool"), "promtool is not installed (deploy/scripts/install-deps.sh --test)")
        let stack = try E2EStack(["--heartbeat", "1"], kinds: [.nginx])
        defer { stack.stop() }
        let api = stack.client(.nginx)
        let run = try await api.createRun(id: "metrics-promtool")
        for step in 1...3 { try await api.append(run, "step", #"{"n":\#(step)}"#) }
        _ = try await api.get("/v1/runs/\(run)")
        _ = try await api.get("/v1/runs/no-such-run")
        // A stream that replays the three events and gets a heartbeat, then goes away.
        let stream = try api.stream(run)
        #expect(await stream.wait(timeout: .seconds(60)) { $0.text.contains(": heartbeat") }, "\(stream.text)")
        stream.close()

        let response = try await HTTPClient.fetch(stack.url(.nginx, "/metrics"))
        #expect(response.status == 200, "\(response.text)")
        #expect(response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let scrape = response.text

        let directory = try TemporaryDirectory(prefix: "promtool")
        try scrape.write(toFile: directory.file("scrape.txt"), atomically: true, encoding: .utf8)
        let check = try ChildProcess(
            executable: promtool, arguments: ["check", "metrics"], stdin: directory.file("scrape.txt"),
            stdout: .file(directory.file("out")), stderr: .file(directory.file("out")))
        let status = await check.exited(within: .seconds(60))
        let output = (try? String(contentsOfFile: directory.file("out"), encoding: .utf8)) ?? ""
        #expect(status.flatMap(ChildProcess.exitCode) == 0, "promtool: \(output)\n\(scrape)")

        for family in Self.requiredFamilies {
            #expect(scrape.contains("# TYPE \(family) "), "\(family) missing from the scrape:\n\(scrape)")
        }
        #expect(Self.sample(scrape, "runjournal_events_appended_total") == 3, "\(scrape)")
        #expect(Self.sample(scrape, "runjournal_runs_created_total") == 1, "\(scrape)")
        #expect(Self.sample(scrape, "runjournal_append_duration_seconds_count") == 3, "\(scrape)")
        #expect((Self.sample(scrape, "runjournal_sse_frames_sent_total") ?? 0) >= 4, "\(scrape)")  // created + 3 steps
        #expect((Self.sample(scrape, "runjournal_heartbeats_sent_total") ?? 0) >= 1, "\(scrape)")
        #expect((Self.sample(scrape, "process_threads") ?? 0) > 1, "\(scrape)")
        #expect((Self.sample(scrape, "process_open_fds") ?? 0) > 3, "\(scrape)")
        #expect((Self.sample(scrape, "process_resident_memory_bytes") ?? 0) > 1_000_000, "\(scrape)")
        // Routes are patterns: no run id ever becomes a label value.
        #expect(Self.sample(scrape, #"runjournal_http_responses_total{route="/v1/runs/:id/events",status="201"}"#) == 3, "\(scrape)")
        #expect(Self.sample(scrape, #"runjournal_http_responses_total{route="/v1/runs/:id",status="404"}"#) == 1, "\(scrape)")
        #expect(Self.sample(scrape, #"runjournal_http_responses_total{route="/v1/runs",status="201"}"#) == 1, "\(scrape)")
        #expect(!scrape.contains(run), "a run id in the scrape:\n\(scrape)")
    }

    @Test("a real Prometheus scraping through nginx sees the appended events")
    func prometheusSeesCountersMove() async throws {
        let stack = try E2EStack([], kinds: [.nginx])
        defer { stack.stop() }
        let prometheus = try PrometheusServer.start(scrapingPort: stack.port(.nginx))
        defer { prometheus.stop() }

        // The target is up (Prometheus reached /metrics through nginx and parsed it) before anything moves.
        let up = await pollQuery(prometheus, #"up{job="runjournal"}"#, until: { $0 == 1 })
        #expect(up == 1, "target never up: \(prometheus.log.suffix(2000))")
        #expect(await pollQuery(prometheus, "runjournal_events_appended_total", until: { $0 != nil }) == 0)

        let api = stack.client(.nginx)
        let run = try await api.createRun(id: "metrics-prometheus")
        for step in 1...5 { try await api.append(run, "step", #"{"n":\#(step)}"#) }
        let appended = await pollQuery(prometheus, "runjournal_events_appended_total", until: { $0 == 5 })
        let seen = appended.map { String($0) } ?? "nothing"
        #expect(appended == 5, "Prometheus saw \(seen): \(prometheus.log.suffix(2000))")
        let responses = await pollQuery(
            prometheus, #"runjournal_http_responses_total{route="/v1/runs/:id/events",status="201"}"#, until: { $0 == 5 })
        #expect(responses == 5)
    }

    /// Queries until `until` holds for the answer (generous: scrapes are a second apart on a busy machine);
    /// the last answer either way.
    private func pollQuery(_ prometheus: PrometheusServer, _ expression: String, until: (Double?) -> Bool) async -> Double? {
        let deadline = ContinuousClock.now + .seconds(120)
        var last: Double?
        while ContinuousClock.now < deadline {
            last = try? await prometheus.query(expression)
            if until(last) { return last }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return last
    }
}
