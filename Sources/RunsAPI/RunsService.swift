import Logging
import RunJournal

/// The runs API as one `HTTPHandler`: routes a request to its operation and turns every thrown error into
/// the JSON error shape. Transport-agnostic: FastCGI serves it in production, tests call it in memory.
public final class RunsService: HTTPHandler {
    public let context: RunsContext
    /// Who may do what (off unless a tokens file is configured); see `RunsService+Access.swift`.
    public let accessControl: AccessControl

    public init(context: RunsContext, accessControl: AccessControl = .off()) {
        self.context = context
        self.accessControl = accessControl
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        var request = request
        let route = Route(path: request.path)
        if let refusal = admit(&request) { return context.metrics.counting(refusal, route: route) }
        return context.metrics.counting(respond(to: request, route: route), route: route)
    }

    private func respond(to request: HTTPRequest, route: Route?) -> HTTPResponse {
        guard let route else {
            return .error(404, code: "not_found", message: "no route for \(request.path)")
        }
        guard route.allowedMethods.contains(request.method) else {
            return .error(
                405, code: "method_not_allowed",
                message: "\(request.method) is not allowed on \(request.path); allowed: \(route.allowedMethods.joined(separator: ", "))",
                extraHeaders: [("Allow", route.allowedMethods.joined(separator: ", "))])
        }
        do {
            switch (route, request.method) {
            case (.runs, "POST"): return try CreateRunOperation(context: context).handle(request)
            case (.runs, _): return try ListRunsOperation(context: context).handle(request)
            case (.run(let id), _): return try ShowRunOperation(context: context).handle(request, id: id)
            case (.runEvents(let id), "POST"): return try AppendEventsOperation(context: context).handle(request, id: id)
            case (.runEvents(let id), _): return try EventsOperation(context: context).handle(request, id: id)
            case (.runStop(let id), _): return try StopRunOperation(context: context).handle(request, id: id)
            case (.runStreamTokens(let id), _):
                return try StreamTokensOperation(context: context, signer: accessControl.signer).handle(request, id: id)
            case (.metrics, _): return MetricsOperation(context: context).handle(request)
            }
        } catch {
            if APIError.isServerFault(error) {
                // The body is path-free (see APIError); the log has the whole error.
                context.logger.error("request failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
            }
            return APIError.response(for: error)
        }
    }
}
