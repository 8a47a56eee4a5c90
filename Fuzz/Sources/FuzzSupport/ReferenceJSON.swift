/// An independent RFC 8259 parser to judge `JSONCompactor` and `JSONObjectReader` against.
///
/// Written for obviousness, not speed: recursive descent straight from the RFC's grammar, with the store's
/// documented extra rules (strict UTF-8, no lone surrogate escapes, a nesting limit) done in the most
/// direct way, UTF-8 through the standard library's validating decoder rather than a byte table. Where the
/// two implementations agree on thousands of millions of inputs, both are probably right.
public enum ReferenceJSON {
    /// A parsed value. Strings are kept as decoded scalars, numbers and literals as their text.
    public indirect enum Value: Equatable {
        case object([Member])
        case array([Value])
        case string([Unicode.Scalar])
        case number([UInt8])
        case literal([UInt8])
    }

    public struct Member: Equatable {
        public let key: [Unicode.Scalar]
        public let value: Value
        /// The member's value as compact JSON text.
        public let compactValue: [UInt8]
    }

    public struct Document {
        public let value: Value
        /// The input without insignificant whitespace.
        public let compact: [UInt8]
    }

    /// The document in `bytes`, or nil when it is not exactly one valid JSON value with at most `maxDepth`
    /// nested containers.
    public static func parse(_ bytes: [UInt8], maxDepth: Int) -> Document? {
        var parser = Parser(bytes: bytes, maxDepth: maxDepth)
        parser.skipWhitespace()
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipWhitespace()
        guard parser.index == bytes.count else { return nil }
        return Document(value: value, compact: parser.out)
    }

    private struct Parser {
        let bytes: [UInt8]
        let maxDepth: Int
        var index = 0
        var out: [UInt8] = []

        init(bytes: [UInt8], maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            out.append(byte)
            index += 1
            return true
        }

        mutating func value(depth: Int) -> Value? {
            switch peek {
            case UInt8(ascii: "{"):
                guard depth < maxDepth else { return nil }
                _ = take(UInt8(ascii: "{"))
                skipWhitespace()
                var members: [Member] = []
                if take(UInt8(ascii: "}")) { return .object(members) }
                while true {
                    skipWhitespace()
                    guard peek == UInt8(ascii: "\""), let key = string() else { return nil }
                    skipWhitespace()
                    guard take(UInt8(ascii: ":")) else { return nil }
                    skipWhitespace()
                    let valueStart = out.count
                    guard let member = value(depth: depth + 1) else { return nil }
                    members.append(Member(key: key, value: member, compactValue: Array(out[valueStart...])))
                    skipWhitespace()
                    if take(UInt8(ascii: "}")) { return .object(members) }
                    guard take(UInt8(ascii: ",")) else { return nil }
                }
            case UInt8(ascii: "["):
                guard depth < maxDepth else { return nil }
                _ = take(UInt8(ascii: "["))
                skipWhitespace()
                var elements: [Value] = []
                if take(UInt8(ascii: "]")) { return .array(elements) }
                while true {
                    skipWhitespace()
                    guard let element = value(depth: depth + 1) else { return nil }
                    elements.append(element)
                    skipWhitespace()
                    if take(UInt8(ascii: "]")) { return .array(elements) }
                    guard take(UInt8(ascii: ",")) else { return nil }
                }
            case UInt8(ascii: "\""):
                return string().map(Value.string)
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "n"): return literal("null")
            default:
                return number()
            }
        }

        mutating func literal(_ text: String) -> Value? {
            let expected = Array(text.utf8)
            guard bytes.count - index >= expected.count, Array(bytes[index..<(index + expected.count)]) == expected else {
                return nil
            }
            index += expected.count
            out += expected
            return .literal(expected)
        }

        mutating func digits() -> Int {
            var count = 0
            while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                _ = take(byte)
                count += 1
            }
            return count
        }

        /// number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT )
        mutating func number() -> Value? {
            let start = out.count
            _ = take(UInt8(ascii: "-"))
            if take(UInt8(ascii: "0")) {
                // "0" must not be followed by more digits; the caller rejects them as trailing data anyway.
            } else {
                guard let byte = peek, byte >= UInt8(ascii: "1"), byte <= UInt8(ascii: "9") else { return nil }
                _ = digits()
            }
            if take(UInt8(ascii: ".")) {
                guard digits() > 0 else { return nil }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                _ = take(peek!)
                if !take(UInt8(ascii: "+")) { _ = take(UInt8(ascii: "-")) }
                guard digits() > 0 else { return nil }
            }
            return .number(Array(out[start...]))
        }

        /// A string literal starting at its opening quote; nil if it is not valid.
        mutating func string() -> [Unicode.Scalar]? {
            let start = index
            index += 1
            var scalars: [Unicode.Scalar] = []
            while true {
                guard let byte = peek else { return nil }
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    out += bytes[start..<index]
                    return scalars
                }
                if byte < 0x20 { return nil }
                if byte == UInt8(ascii: "\\") {
                    guard index + 1 < bytes.count else { return nil }
                    let kind = bytes[index + 1]
                    index += 2
                    switch kind {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(Unicode.Scalar(kind))
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        guard let unit = hex4() else { return nil }
                        if unit >= 0xD800 && unit <= 0xDBFF {
                            guard peek == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                                return nil
                            }
                            index += 2
                            guard let low = hex4(), low >= 0xDC00, low <= 0xDFFF else { return nil }
                            scalars.append(Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!)
                        } else {
                            // A lone low surrogate has no scalar: nil here rejects it.
                            guard let scalar = Unicode.Scalar(unit) else { return nil }
                            scalars.append(scalar)
                        }
                    default:
                        return nil
                    }
                    continue
                }
                if byte < 0x80 {
                    scalars.append(Unicode.Scalar(byte))
                    index += 1
                    continue
                }
                // A run of non-ASCII bytes: every multi-byte UTF-8 sequence lies wholly inside one.
                var end = index
                while end < bytes.count, bytes[end] >= 0x80 { end += 1 }
                guard let text = String(validating: bytes[index..<end], as: UTF8.self) else { return nil }
                scalars += text.unicodeScalars
                index = end
            }
        }

        mutating func hex4() -> UInt32? {
            guard bytes.count - index >= 4 else { return nil }
            var value: UInt32 = 0
            for byte in bytes[index..<(index + 4)] {
                guard let digit = UInt32(String(Unicode.Scalar(byte)), radix: 16) else { return nil }
                value = value << 4 | digit
            }
            index += 4
            return value
        }
    }
}
