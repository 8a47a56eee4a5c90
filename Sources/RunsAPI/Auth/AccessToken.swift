/// One line of the tokens file: who (a name for logs), what (the strongest scope) and where (an optional
/// run pattern), and the SHA-256 of the secret. The secret itself is never stored: a leaked tokens file
/// does not let anyone in.
public struct AccessToken: Sendable, Equatable {
    /// A name for logs and error messages; never secret.
    public let name: String
    public let scope: AccessScope
    /// SHA-256 of the secret's UTF-8 text, 32 bytes.
    public let secretDigest: [UInt8]
    /// The runs this token is confined to; nil for every run.
    public let runs: RunPattern?

    public init(name: String, scope: AccessScope, secretDigest: [UInt8], runs: RunPattern?) {
        self.name = name
        self.scope = scope
        self.secretDigest = secretDigest
        self.runs = runs
    }

    /// Whether this token may touch run `id` (the id as sent).
    public func allows(run id: String) -> Bool { runs?.matches(id) ?? true }
}
