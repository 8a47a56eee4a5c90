/// What a token may do. Scopes nest: `write` implies `read`, `admin` implies both, so a tokens file can name
/// the strongest scope alone and the check is a comparison.
public enum AccessScope: Int, Comparable, Sendable, CaseIterable, CustomStringConvertible {
    /// Look at runs: show, list, the event stream, minting stream tokens.
    case read = 1
    /// Change runs: create, append, stop.
    case write = 2
    /// Operate the service: `/metrics`.
    case admin = 3

    public init?(name: String) {
        switch name {
        case "read": self = .read
        case "write": self = .write
        case "admin": self = .admin
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .read: return "read"
        case .write: return "write"
        case .admin: return "admin"
        }
    }

    public static func < (lhs: AccessScope, rhs: AccessScope) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The strongest scope of a comma-separated list (`read,write` → write); nil for an empty list or an
    /// unknown name.
    public static func strongest(of list: String) -> AccessScope? {
        let names = list.split(separator: ",", omittingEmptySubsequences: false)
        var strongest: AccessScope?
        for name in names {
            guard let scope = AccessScope(name: String(name)) else { return nil }
            strongest = max(strongest ?? scope, scope)
        }
        return strongest
    }

    /// Whether a token holding `self` may do something that needs `required`.
    public func grants(_ required: AccessScope) -> Bool { self >= required }
}
