import RunJournal

/// `GET /healthz` and `GET /readyz` in front of the runs API, without auth, for load balancers and
/// orchestrators. Liveness is "the process answers"; readiness is `ReadinessCheck`. Everything else goes on
/// to the wrapped handler.
public struct HealthEndpoints: HTTPHandler {
    public static let livenessPath = "/healthz"
    public static let readinessPath = "/readyz"

    private let next: any HTTPHandler
    private let readiness: ReadinessCheck

    public init(wrapping next: any HTTPHandler, readiness: ReadinessCheck) {
        self.next = next
        self.readiness = readiness
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let path = request.path
        guard path == Self.livenessPath || path == Self.readinessPath else { return next.handle(request) }
        guard request.method == "GET" || request.method == "HEAD" else {
            return .error(
                405, code: "method_not_allowed", message: "\(request.method) is not allowed on \(path); allowed: GET",
                extraHeaders: [("Allow", "GET")])
        }
        var body = JSONWriter()
        guard path == Self.readinessPath else {
            body.object { $0.key("status"); $0.string("ok") }
            return .json(200, body.bytes, extraHeaders: [("Cache-Control", "no-store")])
        }
        let reasons = readiness.reasons()
        body.object {
            $0.key("status"); $0.string(reasons.isEmpty ? "ready" : "not_ready")
            if !reasons.isEmpty {
                $0.key("reasons")
                $0.array { array in for reason in reasons { array.string(reason) } }
            }
        }
        return .json(reasons.isEmpty ? 200 : 503, body.bytes, extraHeaders: [("Cache-Control", "no-store")])
    }
}
