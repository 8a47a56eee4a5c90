/// A validated run identifier.
///
/// Run ids become file names (`<journal-dir>/<id>.jsonl`), so every id is checked against
/// `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$` *before* any path is built: `../x`, `a/b`, `.hidden`, NUL or an
/// over-long id can never name a file outside the journal directory or a temporary file.
public struct RunID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public static let maxLength = 64

    /// Validates `rawValue`; throws `JournalError.invalidRunID` when it is not a legal id.
    public init(_ rawValue: String) throws(JournalError) {
        guard RunID.isValid(rawValue) else { throw .invalidRunID(rawValue) }
        self.rawValue = rawValue
    }

    public static func isValid(_ candidate: String) -> Bool {
        let bytes = candidate.utf8
        guard let first = bytes.first, bytes.count <= maxLength, isAlphanumeric(first) else { return false }
        for byte in bytes.dropFirst() where !(isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")) {
            return false
        }
        return true
    }

    /// A new time-ordered id: `run_` + a lowercase ULID, so `ls journal/` lists runs oldest first.
    public static func generate(at millis: Int64) -> RunID {
        // Generated ids are always valid by construction.
        try! RunID("run_" + ULID.make(millis: millis))
    }

    public var description: String { rawValue }
    public static func < (lhs: RunID, rhs: RunID) -> Bool { lhs.rawValue < rhs.rawValue }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }
}

/// ULID text (48-bit millisecond time + 80 random bits, Crockford base32, lowercase): sorts by creation time.
enum ULID {
    private static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    static func make(millis: Int64) -> String {
        var out = [UInt8](repeating: 0, count: 26)
        var time = UInt64(max(0, millis))
        for index in stride(from: 9, through: 0, by: -1) {
            out[index] = alphabet[Int(time & 31)]
            time >>= 5
        }
        var generator = SystemRandomNumberGenerator()
        for index in 10..<26 {
            out[index] = alphabet[Int(generator.next() & 31)]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
