import Synchronization

/// What the handler learns about a request that the transport reports after the response: today the name of
/// the token it was made with. A reference shared by every copy of an `HTTPRequest`, because the transport
/// writes the request log line after the handler returned, from its own copy.
public final class RequestAnnotations: Sendable {
    private let principalName = Mutex<String?>(nil)

    public init() {}

    /// The name of the token the request was authenticated with (never the secret); nil when unauthenticated.
    public var principal: String? {
        get { principalName.withLock { $0 } }
        set { principalName.withLock { $0 = newValue } }
    }
}
