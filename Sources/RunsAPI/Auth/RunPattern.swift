import RunJournal

/// The runs a token is confined to: one run id (`build-42`) or every id with a prefix (`acme-*`, a trailing
/// `*` and nothing else wild). Checked on the id text as the client sent it, before anything is looked up,
/// so a run outside the pattern gets the same answer whether or not it exists.
public struct RunPattern: Sendable, Equatable, CustomStringConvertible {
    /// The fixed part: the whole id, or the prefix before `*`.
    public let text: String
    /// Whether `text` is a prefix (`acme-*`) rather than a whole id.
    public let isPrefix: Bool

    /// Parses `acme-*`, `*` or a run id; nil when the text cannot match any run id (characters a run id
    /// cannot hold, a `*` anywhere but at the end).
    public init?(_ raw: String) {
        if raw.hasSuffix("*") {
            let prefix = String(raw.dropLast())
            // The prefix must be a possible start of a run id: "" or a valid id itself ("acme-" is, by the
            // id rules, as long as it starts with a letter or digit).
            guard prefix.isEmpty || RunID.isValid(prefix) else { return nil }
            text = prefix
            isPrefix = true
        } else {
            guard RunID.isValid(raw) else { return nil }
            text = raw
            isPrefix = false
        }
    }

    /// Whether the run id `id` (as sent, valid or not) is inside the pattern.
    public func matches(_ id: String) -> Bool {
        isPrefix ? id.utf8.starts(with: text.utf8) : id == text
    }

    /// How the server names a run a token with this pattern creates without giving an id.
    public enum GeneratedID: Equatable, Sendable {
        /// The usual `run_` + ULID (the pattern is `*`).
        case standard
        /// The pattern's prefix + a ULID (`acme-01j…`): the new run is inside the pattern.
        case prefixed(String)
        /// The one run the pattern names.
        case exact(String)
        /// The prefix is too long to leave room for a ULID: the client must give an id.
        case impossible
    }

    public var generatedID: GeneratedID {
        guard isPrefix else { return .exact(text) }
        if text.isEmpty { return .standard }
        return text.utf8.count + RunID.generatedSuffixLength <= RunID.maxLength ? .prefixed(text) : .impossible
    }

    public var description: String { isPrefix ? text + "*" : text }
}
