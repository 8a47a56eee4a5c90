/// The kind of a JSON value, read from its first byte.
public enum JSONValueKind: Sendable, Equatable, CaseIterable {
    case object, array, string, number, bool, null
}

/// Reads the few things the store and the API need from JSON that `JSONCompactor` has already validated
/// (`{"type":…,"data":…}`, `{"id":…,"metadata":…}`, stored lines), without building a tree.
///
/// Values come back as slices of the input sharing its indices, so a payload can be spliced into a journal
/// line or a response (`JSONWriter.raw`) without being decoded and re-encoded. Nested values are skipped
/// with a depth counter rather than recursion, so depth costs nothing on the caller's stack.
///
/// The input is trusted to be valid, so values are not re-validated. The reader still never reads out of
/// bounds: if the bytes break the structure it depends on, it throws `JournalError.invalidJSON` with an
/// offset counted from the first byte of the slice it was given. Whitespace between tokens is tolerated.
public enum JSONObjectReader {
    /// The top-level members of the object `json`, in document order. Duplicate keys are all returned, in
    /// order; callers decide what a duplicate means.
    public static func members(of json: ArraySlice<UInt8>) throws(JournalError) -> [(key: String, value: ArraySlice<UInt8>)] {
        let ranges = try json.withUnsafeBytes { bytes in
            capture { () throws(JournalError) in try memberRanges(bytes) }
        }.get()
        var members: [(key: String, value: ArraySlice<UInt8>)] = []
        members.reserveCapacity(ranges.count)
        let base = json.startIndex
        for range in ranges {
            let key = try decodeString(json[(base + range.key.lowerBound)..<(base + range.key.upperBound)], offset: range.key.lowerBound)
            members.append((key: key, value: json[(base + range.value.lowerBound)..<(base + range.value.upperBound)]))
        }
        return members
    }

    /// The kind of the value `json` (leading whitespace skipped), decided by its first byte.
    ///
    /// Meant for validated input. Only a number has no fixed first byte, so anything unrecognisable,
    /// including an empty slice, is reported as `.number`; `decodeInt64` then returns nil for it.
    public static func kind(of json: ArraySlice<UInt8>) -> JSONValueKind {
        guard let first = json.first(where: { !JSONScan.isWhitespace($0) }) else { return .number }
        switch first {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        default: return .number
        }
    }

    /// Decodes one JSON string literal, quotes included (`"a\nb"` → `a⏎b`), resolving escapes and
    /// surrogate pairs. The literal is fully validated first with the compactor's rules, so this is safe
    /// on untrusted bytes too; errors carry offsets from the literal's first byte.
    public static func decodeString(_ literal: ArraySlice<UInt8>) throws(JournalError) -> String {
        try decodeString(literal, offset: 0)
    }

    /// The value of an integer literal (`-?(0|[1-9][0-9]*)`) when it fits an `Int64`; nil for anything else
    /// (fractions, exponents, leading zeros, `+`, whitespace, overflow).
    public static func decodeInt64(_ literal: ArraySlice<UInt8>) -> Int64? {
        var index = literal.startIndex
        guard index < literal.endIndex else { return nil }
        let negative = literal[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < literal.endIndex, JSONScan.isDigit(literal[index]) else { return nil }
        if literal[index] == UInt8(ascii: "0") {
            return index + 1 == literal.endIndex ? 0 : nil
        }
        var value: Int64 = 0
        while index < literal.endIndex {
            let byte = literal[index]
            guard JSONScan.isDigit(byte) else { return nil }
            let digit = Int64(byte &- UInt8(ascii: "0"))
            let (scaled, overflowScale) = value.multipliedReportingOverflow(by: 10)
            // Accumulating towards the sign of the result lets Int64.min round-trip without overflowing.
            let (next, overflowAdd) =
                negative ? scaled.subtractingReportingOverflow(digit) : scaled.addingReportingOverflow(digit)
            guard !overflowScale, !overflowAdd else { return nil }
            value = next
            index += 1
        }
        return value
    }

    // MARK: - Internals

    /// `decodeString` with error offsets shifted by `offset` (the literal's position in a larger document).
    static func decodeString(_ literal: ArraySlice<UInt8>, offset: Int) throws(JournalError) -> String {
        let hasEscape = try literal.withUnsafeBytes { bytes in
            capture { () throws(JournalError) in try validateStringLiteral(bytes, offset: offset) }
        }.get()
        let content = literal.dropFirst().dropLast()
        // Validated UTF-8, so `String(decoding:)` never has to repair anything.
        guard hasEscape else { return String(decoding: content, as: UTF8.self) }

        var decoded: [UInt8] = []
        decoded.reserveCapacity(content.count)
        var index = content.startIndex
        while index < content.endIndex {
            let byte = content[index]
            guard byte == UInt8(ascii: "\\") else {
                decoded.append(byte)
                index += 1
                continue
            }
            let kind = content[index + 1]
            index += 2
            switch kind {
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(content, at: index)
                index += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    // Validation guaranteed the matching low surrogate escape follows.
                    let low = hex4(content, at: index + 2)
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                appendUTF8(scalar, to: &decoded)
            default:
                // `"`, `\` and `/` stand for themselves.
                decoded.append(kind)
            }
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    /// Checks that `bytes` is exactly one valid string literal; returns whether it contains any escape.
    private static func validateStringLiteral(_ bytes: UnsafeRawBufferPointer, offset: Int) throws(JournalError) -> Bool {
        guard let start = bytes.baseAddress, bytes.count >= 1, bytes[0] == UInt8(ascii: "\"") else {
            throw .invalidJSON(offset: offset, reason: "expected a JSON string literal")
        }
        let end = start + bytes.count
        let after: UnsafeRawPointer
        do throws(JournalError) {
            after = try JSONScan.string(at: start, end: end, start: start)
        } catch {
            throw shifted(error, by: offset)
        }
        guard after == end else {
            throw .invalidJSON(offset: offset + (after - start), reason: "unexpected data after the string literal")
        }
        return bytes.contains(UInt8(ascii: "\\"))
    }

    /// Start/end offsets (relative to `bytes`) of each member's key literal and value.
    private static func memberRanges(_ bytes: UnsafeRawBufferPointer) throws(JournalError) -> [(key: Range<Int>, value: Range<Int>)] {
        var ranges: [(key: Range<Int>, value: Range<Int>)] = []
        let count = bytes.count
        var index = skipWhitespace(bytes, from: 0)
        guard index < count, bytes[index] == UInt8(ascii: "{") else {
            throw .invalidJSON(offset: index, reason: "expected a JSON object")
        }
        index = skipWhitespace(bytes, from: index + 1)
        if index < count, bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                guard index < count, bytes[index] == UInt8(ascii: "\"") else {
                    throw .invalidJSON(offset: index, reason: "expected '\"' to begin an object key")
                }
                let keyStart = index
                index = try skipString(bytes, at: index)
                let keyEnd = index
                index = skipWhitespace(bytes, from: index)
                guard index < count, bytes[index] == UInt8(ascii: ":") else {
                    throw .invalidJSON(offset: index, reason: "expected ':' after object key")
                }
                index = skipWhitespace(bytes, from: index + 1)
                let valueStart = index
                index = try skipValue(bytes, at: index)
                ranges.append((key: keyStart..<keyEnd, value: valueStart..<index))
                index = skipWhitespace(bytes, from: index)
                guard index < count else {
                    throw .invalidJSON(offset: index, reason: "unexpected end of input, expected ',' or '}'")
                }
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    break
                }
                guard bytes[index] == UInt8(ascii: ",") else {
                    throw .invalidJSON(offset: index, reason: "expected ',' or '}' after object member")
                }
                index = skipWhitespace(bytes, from: index + 1)
            }
        }
        index = skipWhitespace(bytes, from: index)
        guard index == count else {
            throw .invalidJSON(offset: index, reason: "unexpected data after the JSON object")
        }
        return ranges
    }

    /// The offset just past the value starting at `index`. Containers are skipped by counting brackets
    /// outside strings: valid input needs no stack to find where a value ends.
    private static func skipValue(_ bytes: UnsafeRawBufferPointer, at start: Int) throws(JournalError) -> Int {
        let count = bytes.count
        guard start < count else {
            throw .invalidJSON(offset: start, reason: "unexpected end of input, expected a JSON value")
        }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return try skipString(bytes, at: start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var index = start
            while index < count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    index = try skipString(bytes, at: index)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return index + 1 }
                default:
                    break
                }
                index += 1
            }
            throw .invalidJSON(offset: start, reason: "unterminated \(bytes[start] == UInt8(ascii: "{") ? "object" : "array")")
        default:
            // A number or literal: the bytes those can contain. Stopping at anything else (rather than only
            // at delimiters) lets the caller's "expected ',' or '}'" check catch stray bytes.
            var index = start
            while index < count {
                switch bytes[index] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."):
                    index += 1
                    continue
                default:
                    break
                }
                break
            }
            guard index > start else {
                throw .invalidJSON(offset: start, reason: "expected a JSON value, found \(JSONScan.describe(bytes[start]))")
            }
            return index
        }
    }

    /// The offset just past the closing quote of the string whose opening quote is at `quote`.
    private static func skipString(_ bytes: UnsafeRawBufferPointer, at quote: Int) throws(JournalError) -> Int {
        var index = quote + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""): return index + 1
            case UInt8(ascii: "\\"): index += 2
            default: index += 1
            }
        }
        throw .invalidJSON(offset: quote, reason: "unterminated string")
    }

    private static func skipWhitespace(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        while index < bytes.count, JSONScan.isWhitespace(bytes[index]) { index += 1 }
        return index
    }

    /// Four hex digits already known to be valid.
    private static func hex4(_ bytes: ArraySlice<UInt8>, at index: Int) -> UInt32 {
        var value: UInt32 = 0
        for position in index..<(index + 4) { value = value << 4 | (JSONScan.hexValue(bytes[position]) ?? 0) }
        return value
    }

    private static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | scalar >> 6))
            out.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | scalar >> 12))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        default:
            out.append(UInt8(0xF0 | scalar >> 18))
            out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    private static func shifted(_ error: JournalError, by offset: Int) -> JournalError {
        guard offset != 0, case .invalidJSON(let inner, let reason) = error else { return error }
        return .invalidJSON(offset: offset + inner, reason: reason)
    }

    /// Carries a typed error through the stdlib's untyped-rethrowing `withUnsafeBytes`.
    private static func capture<T>(_ body: () throws(JournalError) -> T) -> Result<T, JournalError> {
        do throws(JournalError) { return .success(try body()) } catch { return .failure(error) }
    }
}
