import Logging

/// The gate in front of every operation: who is asking (a bearer secret from the tokens file, or a stream
/// token on the event stream), and may they do this to this run. HTTP-agnostic like the rest of the API:
/// it reads an `HTTPRequest` and answers a decision; `RunsService` calls it before routing.
///
/// Rules (README "Security"): with a tokens file, every request but the open ones (health checks) needs a
/// credential. None, or one nobody issued → 401 with `WWW-Authenticate: Bearer`. A known token without the
/// scope, or a run outside its pattern → 403; the pattern is checked on the id as sent, before anything is
/// looked up, so the 403 is the same whether or not the run exists. Secrets are never logged.
public final class AccessControl: Sendable {
    public let settings: AuthSettings
    /// Nil when access control is off.
    private let registry: TokenRegistry?
    public let signer: StreamTokenSigner
    public let rules: AccessRules
    private let logger: Logger

    /// What the gate decided.
    public enum Decision: Sendable {
        /// Go on. `principal` names the credential for logs (the token's name, `stream-token`, or nil when
        /// access control is off or the route is open); `runs` confines the request (the listing's filter, a
        /// created run's id), nil for every run.
        case allowed(principal: String?, runs: RunPattern?)
        case denied(HTTPResponse)
    }

    /// A tokens file or signing key file that cannot be used at start.
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the tokens file and the signing key (a bad line or an unreadable file is an error here,
    /// before anything is served).
    public init(settings: AuthSettings, rules: AccessRules = .standard, logger: Logger) throws(SetupError) {
        self.settings = settings
        self.rules = rules
        self.logger = logger
        if let path = settings.tokensFile {
            do {
                let tokens = try TokensFile.load(path: path)
                registry = TokenRegistry(tokens)
                if tokens.isEmpty { logger.warning("the tokens file has no tokens: every API request will be refused", metadata: ["file": "\(path)"]) }
                logger.info("access control on", metadata: ["tokens_file": "\(path)", "tokens": "\(tokens.count)"])
            } catch {
                throw SetupError(description: error.description)
            }
        } else {
            registry = nil
        }
        if let path = settings.signingKeyFile {
            do {
                signer = StreamTokenSigner(keyBytes: try StreamTokenSigner.loadKey(path: path))
            } catch {
                throw SetupError(description: error.description)
            }
        } else {
            signer = .withRandomKey()
            if registry != nil {
                logger.notice(
                    "no signing key file: stream tokens are signed with a random key made at start; they stop working when this process exits and other responders refuse them")
            }
        }
    }

    /// Access control off: every request allowed (stream tokens can still be minted, and are ignored).
    public static func off(logger: Logger = Logger(label: "runjournal.auth")) -> AccessControl {
        // Cannot throw: no file is read.
        try! AccessControl(settings: AuthSettings(), logger: logger)
    }

    public var isEnabled: Bool { registry != nil }

    /// Re-reads the tokens file and the signing key file (SIGHUP). A file that is now bad leaves what is in
    /// force unchanged and logs why; open streams are not touched either way (their credential was checked
    /// when they started).
    public func reload() {
        if let registry, let path = settings.tokensFile {
            do {
                let tokens = try TokensFile.load(path: path)
                registry.replace(with: tokens)
                logger.notice("reloaded the tokens file", metadata: ["file": "\(path)", "tokens": "\(tokens.count)"])
            } catch {
                logger.error(
                    "cannot reload the tokens file, keeping the tokens in force",
                    metadata: ["error": "\(error.description)", "tokens": "\(registry.current.count)"])
            }
        }
        if let path = settings.signingKeyFile {
            do {
                signer.replaceKey(with: try StreamTokenSigner.loadKey(path: path))
                logger.notice("reloaded the signing key file", metadata: ["file": "\(path)"])
            } catch {
                logger.error("cannot reload the signing key file, keeping the key in force", metadata: ["error": "\(error.description)"])
            }
        }
    }

    /// Decides on `request` at Unix time `nowSeconds`. `incarnation` gives a run's current incarnation (nil
    /// when it does not exist), to refuse a stream token minted for an earlier run of the same id.
    public func authorize(_ request: HTTPRequest, nowSeconds: Int64, incarnation: (String) -> String?) -> Decision {
        guard let registry else { return .allowed(principal: nil, runs: nil) }
        let match = rules.match(method: request.method, path: request.path)
        if match?.requirement == .open { return .allowed(principal: nil, runs: nil) }

        if let secret = Self.bearerSecret(request.header("authorization")) {
            guard let token = registry.authenticate(secret: secret) else {
                return .denied(Self.unauthorized("the bearer token is not valid", invalidToken: true))
            }
            guard let match else { return .allowed(principal: token.name, runs: token.runs) }  // the router answers
            if case .scope(let needed) = match.requirement, !token.scope.grants(needed) {
                return .denied(.error(403, code: "forbidden", message: "token \(token.name) does not have the \(needed) scope"))
            }
            if let runID = match.runID, !token.allows(run: runID) {
                // Same answer for every id outside the pattern: existing or not.
                return .denied(.error(403, code: "forbidden", message: "token \(token.name) is limited to runs \(token.runs!)"))
            }
            return .allowed(principal: token.name, runs: token.runs)
        }
        if request.header("authorization") != nil {
            return .denied(Self.unauthorized("the Authorization header must be \"Bearer <token>\"", invalidToken: true))
        }
        if let match, match.acceptsStreamToken, let runID = match.runID, let streamToken = request.queryValue("access_token") {
            switch signer.verify(streamToken, runID: runID, nowSeconds: nowSeconds) {
            case .valid(let tokenIncarnation):
                if let current = incarnation(runID), current != tokenIncarnation {
                    return .denied(Self.unauthorized("the stream token is for an earlier run with this id", invalidToken: true))
                }
                return .allowed(principal: "stream-token", runs: RunPattern(runID))
            case .expired:
                return .denied(Self.unauthorized("the stream token has expired: mint a new one", invalidToken: true))
            case .notForThisRun:
                return .denied(Self.unauthorized("the stream token is not valid for this run", invalidToken: true))
            case .malformed:
                return .denied(Self.unauthorized("the access_token is not a stream token", invalidToken: true))
            }
        }
        return .denied(Self.unauthorized("this request needs a token: Authorization: Bearer <token>", invalidToken: false))
    }

    /// The secret of `Authorization: Bearer <secret>` (scheme case-insensitive), or nil.
    static func bearerSecret(_ header: String?) -> String? {
        guard let header else { return nil }
        let trimmed = header.trimmingWhitespace()
        guard trimmed.utf8.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { return nil }
        let secret = String(trimmed.dropFirst(7)).trimmingWhitespace()
        return secret.isEmpty ? nil : secret
    }

    /// 401 in the API's error shape. RFC 6750: `error="invalid_token"` when a credential was sent but is no
    /// good, nothing more when none was sent.
    static func unauthorized(_ message: String, invalidToken: Bool) -> HTTPResponse {
        let challenge = invalidToken ? "Bearer realm=\"runjournal\", error=\"invalid_token\"" : "Bearer realm=\"runjournal\""
        return .error(401, code: "unauthorized", message: message, extraHeaders: [("WWW-Authenticate", challenge)])
    }
}
