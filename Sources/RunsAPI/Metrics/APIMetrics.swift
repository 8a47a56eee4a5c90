import CoreMetrics
import RunJournal

/// What the API reports: responses by route pattern and status, open streams, frames and heartbeats sent,
/// and the events the server's lifecycle rules appended.
///
/// Recorded through swift-metrics only (the backend is the executable's choice). Made once per `RunsContext`
/// from the factory current at its creation, so a request costs an atomic add, and a stream one add per
/// flush rather than per frame.
public final class APIMetrics: Sendable {
    /// Event streams running now (from their body's start until they end, parked on the transport's loop or
    /// not; a stream the transport refused never counts).
    let streamsOpen: Meter
    /// `event:` frames written to streams (replay and live), counted at each flush.
    let sseFramesSent: Counter
    /// `: heartbeat` comments written to idle streams.
    let heartbeatsSent: Counter
    /// `run.failed` appended by the idle watchdog (by a stream or the sweeper).
    let watchdogFailures: Counter
    /// `run.stopped` appended after the stop grace (by a stream or the sweeper).
    let stopGraceStops: Counter
    let responses: ResponseCounters

    public static let descriptions: [MetricDescription] = [
        MetricDescription("runjournal_streams_open", help: "Event streams open now."),
        MetricDescription(
            "runjournal_http_responses_total", help: "Responses the API answered, by route pattern and status."),
        MetricDescription("runjournal_sse_frames_sent_total", help: "SSE event frames sent to streams (replay and live)."),
        MetricDescription("runjournal_heartbeats_sent_total", help: "Heartbeat comments sent to idle streams."),
        MetricDescription(
            "runjournal_watchdog_failures_total", help: "Runs failed by the idle watchdog (run.failed, reason idle_timeout)."),
        MetricDescription(
            "runjournal_stop_grace_total",
            help: "Runs stopped by the server after the stop grace elapsed (run.stopped, reason stop_grace_elapsed)."),
    ]

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        streamsOpen = Meter(label: "runjournal_streams_open", factory: factory)
        sseFramesSent = Counter(label: "runjournal_sse_frames_sent_total", factory: factory)
        heartbeatsSent = Counter(label: "runjournal_heartbeats_sent_total", factory: factory)
        watchdogFailures = Counter(label: "runjournal_watchdog_failures_total", factory: factory)
        stopGraceStops = Counter(label: "runjournal_stop_grace_total", factory: factory)
        responses = ResponseCounters(label: "runjournal_http_responses_total", factory: factory)
    }

    /// Counts what a lifecycle rule appended (`LifecyclePolicy.overdueEvents`: one terminal event).
    func countLifecycleEvents(_ events: [NewEvent]?) {
        switch events?.last?.type {
        case .failed?: watchdogFailures.increment()
        case .stopped?: stopGraceStops.increment()
        default: break
        }
    }

    /// Counts `response` under `route`. A stream is counted when its body starts (the transport may still
    /// refuse it at its stream cap, and then it never runs), and is an open stream until its body returns or,
    /// when the transport parked it, until the transport finishes it.
    func counting(_ response: HTTPResponse, route: Route?) -> HTTPResponse {
        switch response.body {
        case .bytes:
            responses.increment(route: route, status: response.status)
            return response
        case .stream(let produce):
            var counted = response
            let status = response.status
            counted.body = .stream { [self] writer in
                responses.increment(route: route, status: status)
                let open = OpenStreamCount(meter: streamsOpen)
                guard let parking = writer as? any StreamParking else {
                    defer { open.close() }
                    try produce(writer)
                    return
                }
                // A parked stream stays open after its body returns, until the transport finishes it.
                let counting = CountingParkingWriter(parking, count: open)
                defer { if !counting.parked { open.close() } }
                try produce(counting)
            }
            return counted
        }
    }
}
