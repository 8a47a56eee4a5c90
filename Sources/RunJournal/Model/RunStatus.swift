/// A run's status, always derived from its journal (never stored elsewhere). Names follow the Rubino agent API.
public enum RunStatus: String, Sendable, CaseIterable, Codable {
    case queued, running, completed, failed, stopped

    public var isTerminal: Bool { self == .completed || self == .failed || self == .stopped }

    /// The status after an event of `type` has been appended to a run whose status is `self`.
    public func after(_ type: EventType) -> RunStatus {
        switch type {
        case .completed: return .completed
        case .failed: return .failed
        case .stopped: return .stopped
        case .created: return .queued
        case .stopRequested: return self
        default: return isTerminal ? self : .running
        }
    }
}
