#if canImport(Glibc)
import Glibc
#endif
import Crypto
import Synchronization

/// Stream tokens: short-lived credentials for one run's event stream, for clients that cannot send an
/// `Authorization` header (a browser's `EventSource`). `POST /v1/runs/:id/stream-tokens` mints one;
/// `GET /v1/runs/:id/events?access_token=` accepts it.
///
/// A token is `v1.<expires>.<incarnation>.<mac>`: the expiry in Unix seconds, the run's incarnation (its
/// `run.created` time, as in SSE ids: a run deleted and created again under the same id is another run),
/// and HMAC-SHA-256 over the run id, the incarnation and the expiry, base64url. Nothing is stored on the
/// server: any responder holding the same key accepts it, and replacing the key (the signing key file,
/// re-read on SIGHUP) invalidates every token made with the old one.
public final class StreamTokenSigner: Sendable {
    /// Bytes of a key made at start when no key file is configured.
    public static let generatedKeyBytes = 32
    /// A key file must hold at least this many bytes (256 bits, HMAC-SHA-256's block strength).
    public static let minimumKeyBytes = 32
    /// Default and longest lifetime of a token, in seconds.
    public static let defaultTTLSeconds = 600
    public static let maximumTTLSeconds = 24 * 3600

    private let key: Mutex<SymmetricKey>

    public init(keyBytes: [UInt8]) {
        key = Mutex(SymmetricKey(data: keyBytes))
    }

    /// A signer with a fresh random key: its tokens die with the process and no other responder accepts them.
    public static func withRandomKey() -> StreamTokenSigner {
        StreamTokenSigner(keyBytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    /// Reads a key file (its raw bytes, whatever they are: `head -c 32 /dev/urandom` or
    /// `openssl rand -hex 32` both do).
    public static func loadKey(path: String) throws(KeyFileProblem) -> [UInt8] {
        guard let bytes = TokensFile.readBytes(path, limit: 64 * 1024) else {
            throw KeyFileProblem(path: path, message: "cannot read it (\(String(cString: strerror(errno))))")
        }
        guard bytes.count >= minimumKeyBytes else {
            throw KeyFileProblem(path: path, message: "it holds \(bytes.count) bytes; a signing key needs at least \(minimumKeyBytes)")
        }
        return bytes
    }

    /// A signing key file that cannot be used.
    public struct KeyFileProblem: Error, CustomStringConvertible {
        public let path: String
        public let message: String
        public var description: String { "signing key file \(path): \(message)" }
    }

    /// Replaces the key: tokens made with the old one are refused from now on.
    public func replaceKey(with bytes: [UInt8]) {
        key.withLock { $0 = SymmetricKey(data: bytes) }
    }

    /// A token for run `runID` (of incarnation `incarnation`) valid until `expiresAtSeconds` (Unix time).
    public func mint(runID: String, incarnation: String, expiresAtSeconds: Int64) -> String {
        "v1.\(expiresAtSeconds).\(incarnation)." + Base64URL.encode(mac(runID: runID, incarnation: incarnation, expires: expiresAtSeconds))
    }

    /// Why a presented token was refused, for the 401's message (never the token itself).
    public enum Verdict: Equatable, Sendable {
        case valid(incarnation: String)
        case malformed
        /// Not made by this key for this run: another run's token, a forged one, or one from before a key rotation.
        case notForThisRun
        case expired
    }

    /// Checks `token` for run `runID` at Unix time `nowSeconds`. The incarnation is returned for the caller to
    /// compare with the run's own (a token for an earlier run of the same id is not for this run).
    public func verify(_ token: String, runID: String, nowSeconds: Int64) -> Verdict {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", parts[1].utf8.count <= 12,
            parts[1].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let expires = Int64(parts[1]), !parts[2].isEmpty, parts[2].utf8.count <= 13,
            let presented = Base64URL.decode(parts[3]), presented.count == 32
        else { return .malformed }
        let incarnation = String(parts[2])
        // The signature first: an expiry from a forged token says nothing.
        guard TokenSecret.constantTimeEquals(mac(runID: runID, incarnation: incarnation, expires: expires), presented) else {
            return .notForThisRun
        }
        guard nowSeconds < expires else { return .expired }
        return .valid(incarnation: incarnation)
    }

    private func mac(runID: String, incarnation: String, expires: Int64) -> [UInt8] {
        let message = Array("runjournal stream token v1\n\(runID)\n\(incarnation)\n\(expires)".utf8)
        return key.withLock { key in Array(HMAC<SHA256>.authenticationCode(for: message, using: key)) }
    }
}
