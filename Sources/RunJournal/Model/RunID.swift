import SystemSupport

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
        generate(at: millis, prefix: standardPrefix)
    }

    /// The prefix of generated ids unless the caller asks for another.
    public static let standardPrefix = "run_"
    /// Characters a generated id adds after its prefix (a ULID).
    public static let generatedSuffixLength = 26

    /// A new time-ordered id starting with `prefix` (a token confined to `acme-*` creates `acme-` + ULID).
    /// `prefix` must be a valid id itself, or `run_`, and leave `generatedSuffixLength` characters free.
    public static func generate(at millis: Int64, prefix: String) -> RunID {
        // Valid by construction: a valid (or the standard) prefix followed by lowercase base32.
        try! RunID(prefix + ULID.make(millis: millis))
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
///
/// Monotonic within a millisecond in this process: ids made in the same millisecond continue from the previous
/// id's random part plus one, so "newest first" holds even for runs created together.
enum ULID {
    private static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
    private static let last = LockedValue<(millis: Int64, high: UInt16, low: UInt64)>((-1, 0, 0))

    static func make(millis: Int64) -> String {
        let (time, high, low) = last.withLock { state -> (Int64, UInt16, UInt64) in
            if millis != state.millis {
                var generator = SystemRandomNumberGenerator()
                // Leave headroom so the +1 steps within one millisecond never overflow the 80 bits.
                state = (millis, UInt16.random(in: 0...0x7FFF, using: &generator), generator.next())
            } else {
                let (low, carry) = state.low.addingReportingOverflow(1)
                state.low = low
                if carry { state.high &+= 1 }
            }
            return (state.millis, state.high, state.low)
        }
        var out = [UInt8](repeating: 0, count: 26)
        var timeBits = UInt64(max(0, time))
        for index in stride(from: 9, through: 0, by: -1) {
            out[index] = alphabet[Int(timeBits & 31)]
            timeBits >>= 5
        }
        // 80 random bits = high 16 + low 64, written as 16 base32 digits (5 bits each), most significant first.
        for index in 0..<16 {
            let shift = 75 - index * 5  // bit position of this digit's lowest bit within the 80
            var value: UInt64
            if shift >= 64 {
                value = UInt64(high) >> (shift - 64)
            } else if shift > 59 {
                value = (low >> shift) | (UInt64(high) << (64 - shift))
            } else {
                value = low >> shift
            }
            out[10 + index] = alphabet[Int(value & 31)]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
