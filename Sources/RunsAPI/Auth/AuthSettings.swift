/// The operator's access-control settings (`auth.tokens_file` / `--auth-tokens`,
/// `auth.signing_key_file` / `--signing-key-file`). Access control is on exactly when a tokens file is set.
public struct AuthSettings: Sendable, Equatable {
    /// The tokens file; nil turns access control off (every request is served, as before).
    public var tokensFile: String?
    /// The stream-token signing key; nil makes a random key at start.
    public var signingKeyFile: String?

    public init(tokensFile: String? = nil, signingKeyFile: String? = nil) {
        self.tokensFile = tokensFile
        self.signingKeyFile = signingKeyFile
    }
}
