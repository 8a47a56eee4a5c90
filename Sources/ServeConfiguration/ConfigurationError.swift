/// A configuration `serve` must not start with. Every case names the source (file, variable or flag) and the
/// key, because a value that is silently ignored or defaulted is how a service ends up running with settings
/// nobody chose.
public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    /// The config file cannot be read.
    case unreadableFile(path: String, reason: String)
    /// The config file is not valid JSON or YAML, or not a mapping at the top.
    case unparsableFile(path: String, reason: String)
    /// A key (or `RUNJOURNAL_*` variable) that is no setting: usually a typo that would otherwise change nothing.
    case unknownKey(source: SettingSource, key: String)
    /// A value of the wrong type or out of range.
    case badValue(source: SettingSource, key: String, expected: String, got: String)
    /// Two settings that exclude each other are both set.
    case conflict(String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "config file \(path): cannot read it: \(reason)"
        case .unparsableFile(let path, let reason):
            return "config file \(path): cannot parse it: \(reason)"
        case .unknownKey(.environment(let variable), _):
            return "environment \(variable): unknown setting (RUNJOURNAL_* variables are settings; see runjournal config check --help)"
        case .unknownKey(let source, let key):
            return "\(source): unknown key \"\(key)\""
        case .badValue(let source, let key, let expected, let got):
            return "\(source): bad value for \(key): \(expected) (got \(got))"
        case .conflict(let message):
            return message
        }
    }
}
