/// When appended events reach the disk, traded against append latency.
///
/// - `always` (default): an append is acknowledged only after `fdatasync`; a crash never takes back an
///   acknowledged event. Concurrent appenders to one journal share one sync (group commit), so the cost is one
///   sync per burst, not one per event.
/// - `interval(ms)`: acknowledged at once; a background flusher syncs dirty journals at most every `ms`
///   milliseconds. A crash may lose up to that much acknowledged data (and a live stream may have shown it).
/// - `never`: left to the kernel's writeback (about 30 s on Linux). For tests and throwaway runs.
public enum FsyncPolicy: Sendable, Equatable, CustomStringConvertible {
    case always
    case interval(milliseconds: Int)
    case never

    /// Parses `always`, `never` or `interval:<ms>` (ms > 0).
    public init?(parsing text: String) {
        switch text {
        case "always": self = .always
        case "never": self = .never
        default:
            guard text.hasPrefix("interval:"), let ms = Int(text.dropFirst("interval:".count)), ms > 0 else { return nil }
            self = .interval(milliseconds: ms)
        }
    }

    public var description: String {
        switch self {
        case .always: return "always"
        case .never: return "never"
        case .interval(let ms): return "interval:\(ms)"
        }
    }
}
