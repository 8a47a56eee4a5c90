import RunJournal

extension RunsService {
    /// Runs the access gate on `request`: nil to go on (with `principal` and `allowedRuns` filled in), or
    /// the 401/403 to answer.
    func admit(_ request: inout HTTPRequest) -> HTTPResponse? {
        let store = context.store
        let decision = accessControl.authorize(request, nowSeconds: context.clock.nowMillis() / 1000) { id in
            guard let runID = try? RunID(id), let summary = try? store.summary(of: runID) else { return nil }
            return String(decoding: EventID.incarnation(createdAtMillis: summary.createdAtMillis), as: UTF8.self)
        }
        switch decision {
        case .allowed(let principal, let runs):
            request.principal = principal
            request.allowedRuns = runs
            return nil
        case .denied(let response):
            return response
        }
    }
}
