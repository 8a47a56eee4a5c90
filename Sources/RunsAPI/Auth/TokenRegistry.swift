import Synchronization

/// The tokens currently in force, replaced whole on reload (SIGHUP) while requests keep looking them up.
/// A request sees either the old set or the new one, never a mix.
public final class TokenRegistry: Sendable {
    private let tokens: Mutex<[AccessToken]>

    public init(_ tokens: [AccessToken]) {
        self.tokens = Mutex(tokens)
    }

    public var current: [AccessToken] { tokens.withLock { $0 } }

    public func replace(with new: [AccessToken]) {
        tokens.withLock { $0 = new }
    }

    /// The token whose secret is `secret`, or nil. The presented secret is hashed and its digest compared
    /// with every token's in constant time, without stopping at a match: neither the time nor anything
    /// else depends on how much of a secret was right, or on which line matched.
    public func authenticate(secret: some StringProtocol) -> AccessToken? {
        let presented = TokenSecret.digest(of: secret)
        var found: AccessToken?
        for token in current where TokenSecret.constantTimeEquals(token.secretDigest, presented) {
            found = token
        }
        return found
    }
}
