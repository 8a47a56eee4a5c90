import Crypto

/// Bearer secrets: how they are made (`runjournal token new`) and how a presented one is checked against the
/// tokens file, which holds only their SHA-256.
public enum TokenSecret {
    /// Random bytes in a new secret: 256 bits, far beyond guessing.
    public static let byteCount = 32

    /// A new secret: 32 bytes from the system's CSPRNG (getrandom), base64url without padding (43 characters).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Base64URL.encode(bytes)
    }

    /// SHA-256 of the secret's UTF-8 text, as the tokens file stores it (`printf %s "$SECRET" | sha256sum`).
    public static func digest(of secret: some StringProtocol) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
    }

    /// The digest as the tokens file writes it: 64 lowercase hex digits.
    public static func hexDigest(of secret: some StringProtocol) -> String {
        TokensFile.hex(digest(of: secret))
    }

    /// Compares two byte strings in time that depends only on their lengths, never on where they differ.
    static func constantTimeEquals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for (left, right) in zip(lhs, rhs) { difference |= left ^ right }
        return difference == 0
    }
}
