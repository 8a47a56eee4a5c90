/// Where a setting's effective value came from, for `config check` and for error messages, which always name
/// the source and the key so an operator knows which of three places to fix.
public enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    /// No source set it.
    case defaultValue
    /// The file given with `--config`.
    case configFile(path: String)
    /// A `RUNJOURNAL_*` environment variable.
    case environment(variable: String)
    /// A command-line flag such as `--heartbeat`.
    case flag(String)

    public var description: String {
        switch self {
        case .defaultValue: return "default"
        case .configFile(let path): return "config file \(path)"
        case .environment(let variable): return "environment \(variable)"
        case .flag(let flag): return "flag \(flag)"
        }
    }
}
