/// The store's front door for JSON: validates untrusted text as exactly one RFC 8259 value and returns it
/// compacted, so every journal line can embed client JSON verbatim without re-encoding it.
///
/// Compacting only removes insignificant whitespace; everything else is kept byte for byte (key order,
/// duplicate keys, number spelling, string escapes). The store never has to decode and re-encode a payload,
/// so nothing a client sent is silently normalised, rounded or reordered, and a line stays one line.
///
/// Rules beyond the bare grammar, each chosen so a journal only ever holds JSON that every mainstream
/// parser reads the same way:
/// - Text must be valid UTF-8: overlong forms, UTF-8-encoded surrogates (U+D800–U+DFFF), code points above
///   U+10FFFF, stray continuation bytes and truncated sequences are rejected.
/// - Raw control characters (below 0x20) inside strings are rejected; they must be escaped.
/// - `\u` escapes need four hex digits. Surrogate escapes must form a pair (`\uD83D\uDE00`); a lone
///   surrogate escape is rejected even though the RFC grammar admits it, because RFC 8259 §8.2 leaves its
///   meaning undefined and strict decoders (serde_json, Foundation) refuse it: accepting one would let a
///   client write a journal that other clients cannot read.
/// - Nesting deeper than `maxDepth` containers is rejected.
///
/// The scanner is a single pass with an explicit container stack instead of recursion: request handlers
/// run on threads with small stacks, and `[[[[…` from a client must end in an error, never a stack overflow.
///
/// Errors are `JournalError.invalidJSON(offset:reason:)`; `offset` counts bytes from the start of the input.
/// For problems inside a multi-byte UTF-8 sequence it is the offset of the sequence's first byte, and for an
/// unterminated string it is the offset of the opening quote (the end of input says nothing useful).
public enum JSONCompactor {
    /// The default limit on nested containers (`[[1]]` is two levels): deep enough for any sane payload, shallow enough that consumers with
    /// recursive decoders can still read what the store accepted.
    public static let maxDepth = 256

    /// Validates `input` as exactly one JSON value and returns it without insignificant whitespace.
    public static func compact(_ input: UnsafeRawBufferPointer, maxDepth: Int = maxDepth) throws(JournalError) -> [UInt8] {
        guard let start = input.baseAddress, input.count > 0 else {
            throw .invalidJSON(offset: 0, reason: "empty input: expected a JSON value")
        }
        let count = input.count
        var failure: JournalError?
        // The result is never longer than the input, so one allocation of `count` bytes suffices.
        let output = [UInt8](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            var scanner = Scanner(
                start: start, end: start + count, out: UnsafeMutableRawPointer(buffer.baseAddress!), maxDepth: maxDepth)
            do throws(JournalError) {
                initializedCount = try scanner.run()
            } catch {
                failure = error
                initializedCount = 0
            }
        }
        if let failure { throw failure }
        return output
    }

    /// Validates and compacts the bytes of `input`.
    public static func compact(_ input: [UInt8], maxDepth: Int = maxDepth) throws(JournalError) -> [UInt8] {
        try input.withUnsafeBytes { bytes in result { () throws(JournalError) in try compact(bytes, maxDepth: maxDepth) } }.get()
    }

    /// Validates and compacts the bytes of `input`; offsets count from `input.startIndex`.
    public static func compact(_ input: ArraySlice<UInt8>, maxDepth: Int = maxDepth) throws(JournalError) -> [UInt8] {
        try input.withUnsafeBytes { bytes in result { () throws(JournalError) in try compact(bytes, maxDepth: maxDepth) } }.get()
    }

    /// Validates and compacts the UTF-8 encoding of `input`.
    public static func compact(_ input: String, maxDepth: Int = maxDepth) throws(JournalError) -> [UInt8] {
        var text = input
        return try text.withUTF8 { utf8 in
            result { () throws(JournalError) in try compact(UnsafeRawBufferPointer(utf8), maxDepth: maxDepth) }
        }.get()
    }

    /// The stdlib's `withUnsafeBytes`/`withUTF8` only rethrow untyped errors; carrying a `Result` through
    /// them keeps `throws(JournalError)` precise.
    private static func result<T>(_ body: () throws(JournalError) -> T) -> Result<T, JournalError> {
        do throws(JournalError) { return .success(try body()) } catch { return .failure(error) }
    }
}

// MARK: - Scanner

extension JSONCompactor {
    /// One pass over the input. Bytes are not copied one at a time: the scanner only validates, and the
    /// run of input since the last whitespace is copied in one block whenever whitespace is dropped (and at
    /// the end), so already-compact input costs one `memcpy`.
    fileprivate struct Scanner {
        let start: UnsafeRawPointer
        let end: UnsafeRawPointer
        let out: UnsafeMutableRawPointer
        let maxDepth: Int
        /// The next byte to examine.
        var cursor: UnsafeRawPointer
        /// The first input byte that has been validated but not yet copied to `out`.
        var pending: UnsafeRawPointer
        var written = 0
        /// One entry per open container, innermost last: `true` for an object, `false` for an array.
        var containers: [Bool] = []

        init(start: UnsafeRawPointer, end: UnsafeRawPointer, out: UnsafeMutableRawPointer, maxDepth: Int) {
            self.start = start
            self.end = end
            self.out = out
            self.maxDepth = maxDepth
            self.cursor = start
            self.pending = start
        }

        /// Scans the whole input and returns the number of bytes written to `out`.
        mutating func run() throws(JournalError) -> Int {
            skipWhitespace()
            if cursor == end { throw JSONScan.error(at: cursor, start, "empty input: expected a JSON value") }

            value: while true {
                // Here a value must begin at `cursor`; whitespace before it has been skipped.
                guard cursor < end else {
                    throw JSONScan.error(at: cursor, start, "unexpected end of input, expected a JSON value")
                }
                let byte = cursor.load(as: UInt8.self)
                switch byte {
                case UInt8(ascii: "{"):
                    try open(object: true)
                    skipWhitespace()
                    if cursor < end, cursor.load(as: UInt8.self) == UInt8(ascii: "}") {
                        cursor += 1
                        containers.removeLast()
                    } else {
                        try scanKey(afterOpeningBrace: true)
                        continue value
                    }
                case UInt8(ascii: "["):
                    try open(object: false)
                    skipWhitespace()
                    if cursor < end, cursor.load(as: UInt8.self) == UInt8(ascii: "]") {
                        cursor += 1
                        containers.removeLast()
                    } else {
                        continue value
                    }
                case UInt8(ascii: "\""):
                    cursor = try JSONScan.string(at: cursor, end: end, start: start)
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    try scanNumber()
                case UInt8(ascii: "t"):
                    try scanLiteral("true")
                case UInt8(ascii: "f"):
                    try scanLiteral("false")
                case UInt8(ascii: "n"):
                    try scanLiteral("null")
                default:
                    throw JSONScan.error(at: cursor, start, "expected a JSON value, found \(JSONScan.describe(byte))")
                }

                // A value just ended: close containers until one continues with ',' or the document ends.
                while true {
                    skipWhitespace()
                    guard let inObject = containers.last else {
                        if cursor != end {
                            throw JSONScan.error(at: cursor, start, "unexpected data after the JSON value")
                        }
                        flush()
                        return written
                    }
                    guard cursor < end else {
                        throw JSONScan.error(
                            at: cursor, start,
                            inObject ? "unexpected end of input, expected ',' or '}'" : "unexpected end of input, expected ',' or ']'")
                    }
                    let next = cursor.load(as: UInt8.self)
                    if next == UInt8(ascii: ",") {
                        cursor += 1
                        skipWhitespace()
                        if inObject { try scanKey(afterOpeningBrace: false) }
                        continue value
                    }
                    if inObject {
                        guard next == UInt8(ascii: "}") else {
                            throw JSONScan.error(at: cursor, start, "expected ',' or '}' after object member")
                        }
                    } else {
                        guard next == UInt8(ascii: "]") else {
                            throw JSONScan.error(at: cursor, start, "expected ',' or ']' after array element")
                        }
                    }
                    cursor += 1
                    containers.removeLast()
                }
            }
        }

        @inline(__always)
        private mutating func open(object: Bool) throws(JournalError) {
            guard containers.count < maxDepth else {
                throw JSONScan.error(at: cursor, start, "nesting deeper than \(maxDepth) levels")
            }
            containers.append(object)
            cursor += 1
        }

        /// Scans `"key":` with the whitespace around the colon, leaving `cursor` at the member's value.
        private mutating func scanKey(afterOpeningBrace: Bool) throws(JournalError) {
            guard cursor < end, cursor.load(as: UInt8.self) == UInt8(ascii: "\"") else {
                let found = cursor < end ? JSONScan.describe(cursor.load(as: UInt8.self)) : "end of input"
                let expected =
                    afterOpeningBrace ? "'\"' to begin an object key or '}' after '{'" : "'\"' to begin an object key after ','"
                throw JSONScan.error(at: cursor, start, "expected \(expected), found \(found)")
            }
            cursor = try JSONScan.string(at: cursor, end: end, start: start)
            skipWhitespace()
            guard cursor < end, cursor.load(as: UInt8.self) == UInt8(ascii: ":") else {
                throw JSONScan.error(at: cursor, start, "expected ':' after object key")
            }
            cursor += 1
            skipWhitespace()
        }

        /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; what follows the number is judged by the caller.
        private mutating func scanNumber() throws(JournalError) {
            if cursor.load(as: UInt8.self) == UInt8(ascii: "-") {
                cursor += 1
                guard cursor < end, JSONScan.isDigit(cursor.load(as: UInt8.self)) else {
                    throw JSONScan.error(at: cursor, start, "expected a digit after '-' in number")
                }
            }
            if cursor.load(as: UInt8.self) == UInt8(ascii: "0") {
                cursor += 1
                if cursor < end, JSONScan.isDigit(cursor.load(as: UInt8.self)) {
                    throw JSONScan.error(at: cursor - 1, start, "leading zeros are not allowed in numbers")
                }
            } else {
                skipDigits()
            }
            if cursor < end, cursor.load(as: UInt8.self) == UInt8(ascii: ".") {
                cursor += 1
                guard cursor < end, JSONScan.isDigit(cursor.load(as: UInt8.self)) else {
                    throw JSONScan.error(at: cursor, start, "expected a digit after '.' in number")
                }
                skipDigits()
            }
            if cursor < end, cursor.load(as: UInt8.self) | 0x20 == UInt8(ascii: "e") {
                cursor += 1
                if cursor < end, cursor.load(as: UInt8.self) == UInt8(ascii: "+") || cursor.load(as: UInt8.self) == UInt8(ascii: "-") {
                    cursor += 1
                }
                guard cursor < end, JSONScan.isDigit(cursor.load(as: UInt8.self)) else {
                    throw JSONScan.error(at: cursor, start, "expected a digit in number exponent")
                }
                skipDigits()
            }
        }

        @inline(__always)
        private mutating func skipDigits() {
            while cursor < end, JSONScan.isDigit(cursor.load(as: UInt8.self)) { cursor += 1 }
        }

        private mutating func scanLiteral(_ literal: StaticString) throws(JournalError) {
            let length = literal.utf8CodeUnitCount
            if end - cursor >= length,
                UnsafeRawBufferPointer(start: cursor, count: length).elementsEqual(
                    UnsafeBufferPointer(start: literal.utf8Start, count: length))
            {
                cursor += length
                return
            }
            throw JSONScan.error(at: cursor, start, "invalid literal, expected '\(literal)'")
        }

        /// Drops a whitespace run, first copying the validated bytes before it to the output.
        @inline(__always)
        private mutating func skipWhitespace() {
            guard cursor < end, JSONScan.isWhitespace(cursor.load(as: UInt8.self)) else { return }
            flush()
            repeat { cursor += 1 } while cursor < end && JSONScan.isWhitespace(cursor.load(as: UInt8.self))
            pending = cursor
        }

        /// Copies the validated bytes `pending..<cursor` to the output.
        @inline(__always)
        private mutating func flush() {
            let count = cursor - pending
            if count > 0 {
                (out + written).copyMemory(from: pending, byteCount: count)
                written += count
            }
            pending = cursor
        }
    }
}

// MARK: - Shared scanning primitives

/// Byte-level pieces shared by `JSONCompactor` and `JSONObjectReader`, so a string is validated by exactly one
/// piece of code whether it arrives in a request body or is decoded from a stored line.
enum JSONScan {
    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    static func error(at position: UnsafeRawPointer, _ start: UnsafeRawPointer, _ reason: String) -> JournalError {
        .invalidJSON(offset: position - start, reason: reason)
    }

    /// A byte as it should appear in an error message: `'x'` when printable ASCII, `byte 0xNN` otherwise.
    static func describe(_ byte: UInt8) -> String {
        if byte > 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte " + hex(byte)
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return "0x" + String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
    }

    /// Value of one hex digit, or nil.
    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte &- UInt8(ascii: "A") &+ 10)
        default: return nil
        }
    }

    /// The four hex digits at `position` as a UTF-16 code unit, or nil when there are not four hex digits.
    @inline(__always)
    static func hex4(at position: UnsafeRawPointer, end: UnsafeRawPointer) -> UInt32? {
        guard end - position >= 4,
            let a = hexValue(position.load(as: UInt8.self)),
            let b = hexValue(position.load(fromByteOffset: 1, as: UInt8.self)),
            let c = hexValue(position.load(fromByteOffset: 2, as: UInt8.self)),
            let d = hexValue(position.load(fromByteOffset: 3, as: UInt8.self))
        else { return nil }
        return a << 12 | b << 8 | c << 4 | d
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// Whether any of the eight bytes in `word` is `"`, `\`, below 0x20 or above 0x7F, i.e. needs a closer
    /// look. Exact about "none" (never misses one), which is all the fast path needs.
    @inline(__always)
    static func needsAttention(_ word: UInt64) -> Bool {
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let hasQuote = (quote &- ones) & ~quote
        let hasBackslash = (backslash &- ones) & ~backslash
        // `word &- 0x20…` sets a high bit for any byte below 0x20; `| word` flags bytes >= 0x80.
        let controlOrHigh = (word &- ones &* 0x20) | word
        return (hasQuote | hasBackslash | controlOrHigh) & highBits != 0
    }

    /// Validates the string literal whose opening quote is at `quote` and returns the position just past
    /// its closing quote. Offsets in errors are measured from `start`.
    static func string(at quote: UnsafeRawPointer, end: UnsafeRawPointer, start: UnsafeRawPointer) throws(JournalError)
        -> UnsafeRawPointer
    {
        var cursor = quote + 1
        while true {
            // Plain ASCII runs are the common case: check eight bytes per step.
            while end - cursor >= 8, !needsAttention(cursor.loadUnaligned(as: UInt64.self)) { cursor += 8 }
            guard cursor < end else { throw error(at: quote, start, "unterminated string") }
            let byte = cursor.load(as: UInt8.self)
            switch byte {
            case UInt8(ascii: "\""):
                return cursor + 1
            case UInt8(ascii: "\\"):
                cursor = try escape(at: cursor, quote: quote, end: end, start: start)
            case 0..<0x20:
                throw error(at: cursor, start, "raw control character \(hex(byte)) in string (must be escaped)")
            case 0x20..<0x80:
                cursor += 1
            default:
                cursor = try utf8Sequence(at: cursor, end: end, start: start)
            }
        }
    }

    /// Validates the escape whose backslash is at `backslash`; returns the position after it.
    private static func escape(
        at backslash: UnsafeRawPointer, quote: UnsafeRawPointer, end: UnsafeRawPointer, start: UnsafeRawPointer
    ) throws(JournalError) -> UnsafeRawPointer {
        guard end - backslash >= 2 else { throw error(at: quote, start, "unterminated string") }
        let kind = backslash.load(fromByteOffset: 1, as: UInt8.self)
        switch kind {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return backslash + 2
        case UInt8(ascii: "u"):
            guard let unit = hex4(at: backslash + 2, end: end) else {
                throw error(at: backslash, start, "invalid \\u escape: expected 4 hex digits")
            }
            switch unit {
            case 0xD800...0xDBFF:
                let low = backslash + 6
                guard end - low >= 6,
                    low.load(as: UInt8.self) == UInt8(ascii: "\\"),
                    low.load(fromByteOffset: 1, as: UInt8.self) == UInt8(ascii: "u"),
                    let lowUnit = hex4(at: low + 2, end: end), (0xDC00...0xDFFF).contains(lowUnit)
                else {
                    throw error(
                        at: backslash, start, "lone surrogate escape: a high surrogate must be followed by a \\uDC00-\\uDFFF escape")
                }
                return low + 6
            case 0xDC00...0xDFFF:
                throw error(at: backslash, start, "lone surrogate escape: a low surrogate must follow a \\uD800-\\uDBFF escape")
            default:
                return backslash + 6
            }
        default:
            throw error(at: backslash, start, "invalid escape: '\\' followed by \(describe(kind))")
        }
    }

    /// Validates the multi-byte UTF-8 sequence starting at `lead` (a byte >= 0x80) per Unicode Table 3-7;
    /// returns the position after it. Errors point at the lead byte.
    private static func utf8Sequence(at lead: UnsafeRawPointer, end: UnsafeRawPointer, start: UnsafeRawPointer)
        throws(JournalError) -> UnsafeRawPointer
    {
        let first = lead.load(as: UInt8.self)
        let length: Int
        // The range the second byte must fall in; the narrower ranges exclude overlongs, surrogates and > U+10FFFF.
        let secondLow: UInt8
        let secondHigh: UInt8
        switch first {
        case 0xC2...0xDF: (length, secondLow, secondHigh) = (2, 0x80, 0xBF)
        case 0xE0: (length, secondLow, secondHigh) = (3, 0xA0, 0xBF)
        case 0xED: (length, secondLow, secondHigh) = (3, 0x80, 0x9F)
        case 0xE1...0xEF: (length, secondLow, secondHigh) = (3, 0x80, 0xBF)
        case 0xF0: (length, secondLow, secondHigh) = (4, 0x90, 0xBF)
        case 0xF1...0xF3: (length, secondLow, secondHigh) = (4, 0x80, 0xBF)
        case 0xF4: (length, secondLow, secondHigh) = (4, 0x80, 0x8F)
        case 0x80...0xBF:
            throw error(at: lead, start, "invalid UTF-8 byte \(hex(first)) (unexpected continuation byte)")
        case 0xC0, 0xC1:
            throw error(at: lead, start, "invalid UTF-8 byte \(hex(first)) (overlong encoding)")
        default:
            throw error(at: lead, start, "invalid UTF-8 byte \(hex(first))")
        }
        guard end - lead >= length else {
            throw error(at: lead, start, "truncated UTF-8 sequence starting with \(hex(first))")
        }
        for index in 1..<length where lead.load(fromByteOffset: index, as: UInt8.self) & 0xC0 != 0x80 {
            throw error(at: lead, start, "truncated UTF-8 sequence starting with \(hex(first))")
        }
        let second = lead.load(fromByteOffset: 1, as: UInt8.self)
        guard second >= secondLow, second <= secondHigh else {
            let problem =
                switch first {
                case 0xE0, 0xF0: "overlong UTF-8 encoding"
                case 0xED: "UTF-8 encoded surrogate (U+D800-U+DFFF)"
                default: "UTF-8 encoding of a code point above U+10FFFF"
                }
            throw error(at: lead, start, "\(problem) (\(hex(first)) \(hex(second)))")
        }
        return lead + length
    }
}
