import Testing

@testable import RunJournal

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers (private: other test files in this target define their own)

private func compacted(_ text: String, maxDepth: Int = JSONCompactor.maxDepth) throws -> String {
    String(decoding: try JSONCompactor.compact(text, maxDepth: maxDepth), as: UTF8.self)
}

/// The error the compactor reports for `bytes`, or nil when it accepts them.
private func failure(_ bytes: [UInt8], maxDepth: Int = JSONCompactor.maxDepth) -> JournalError? {
    do throws(JournalError) {
        _ = try JSONCompactor.compact(bytes, maxDepth: maxDepth)
        return nil
    } catch {
        return error
    }
}

private func failure(_ text: String, maxDepth: Int = JSONCompactor.maxDepth) -> JournalError? {
    failure(Array(text.utf8), maxDepth: maxDepth)
}

/// Bytes of a JSON string literal whose content is `content` (raw, not escaped).
private func stringLiteral(_ content: [UInt8]) -> [UInt8] {
    [UInt8(ascii: "\"")] + content + [UInt8(ascii: "\"")]
}

/// Holds the work for a small-stack thread and the answer it produces.
private final class SmallStackJob: @unchecked Sendable {
    let input: [UInt8]
    let maxDepth: Int
    var accepted: [UInt8]?
    var error: JournalError?
    var finished = false
    init(input: [UInt8], maxDepth: Int) {
        self.input = input
        self.maxDepth = maxDepth
    }
}

/// Compacts `input` on a new thread whose stack is only 64 KiB, and waits for it. A recursive parser
/// overflows such a stack within a few thousand levels and kills the test process.
private func compactOnSmallStack(_ input: [UInt8], maxDepth: Int = JSONCompactor.maxDepth) -> SmallStackJob {
    let job = SmallStackJob(input: input, maxDepth: maxDepth)
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    #expect(pthread_attr_setstacksize(&attributes, 64 * 1024) == 0)
    let unmanaged = Unmanaged.passRetained(job)
    var thread = pthread_t()
    let created = pthread_create(
        &thread, &attributes,
        { argument in
            let job = Unmanaged<SmallStackJob>.fromOpaque(argument!).takeUnretainedValue()
            do throws(JournalError) {
                job.accepted = try JSONCompactor.compact(job.input, maxDepth: job.maxDepth)
            } catch {
                job.error = error
            }
            job.finished = true
            return nil
        }, unmanaged.toOpaque())
    #expect(created == 0)
    if created == 0 { pthread_join(thread, nil) }
    unmanaged.release()
    return job
}

// MARK: - Valid documents

@Test(arguments: [
    "{}", "[]", "\"\"", "\"text\"", "0", "-0", "7", "-12", "3.25", "1e5", "1E+5", "2.5e-3", "true", "false", "null",
    "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}", "[[],[[]],{}]",
])
func compactJSONIsReturnedByteForByte(_ json: String) throws {
    #expect(try compacted(json) == json)
}

@Test func numberSpellingIsPreserved() throws {
    let json = "[-0.0e-0,1.000,1E+2,12345678901234567890123456789,0.1e999]"
    #expect(try compacted(json) == json)
}

@Test func stringEscapesArePreserved() throws {
    let json = #"["\u00e9\n\/\"\\\b\f\r\t","\uD83D\uDE00","\u0000"]"#
    #expect(try compacted(json) == json)
}

@Test func keyOrderAndDuplicateKeysArePreserved() throws {
    let json = #"{"b":1,"a":2,"b":3}"#
    #expect(try compacted(json) == json)
}

@Test func whitespaceIsRemovedAtEveryNestingLevel() throws {
    let pretty = "\r\n {\n\t\"a\" : [ 1 ,\t2 , { \"b\" :\r\n null } , [ ] , { } ] ,\n  \"c\" : true\n}\n\t "
    #expect(try compacted(pretty) == #"{"a":[1,2,{"b":null},[],{}],"c":true}"#)
}

@Test func whitespaceInsideStringsIsKept() throws {
    let json = #"{ "a b" : "  x  y  " , " " : [ " " ] }"#
    #expect(try compacted(json) == #"{"a b":"  x  y  "," ":[" "]}"#)
}

@Test func leadingAndTrailingWhitespaceAroundScalarsIsRemoved() throws {
    #expect(try compacted("  42  ") == "42")
    #expect(try compacted("\n\"s\"\n") == "\"s\"")
    #expect(try compacted("\tnull") == "null")
}

@Test func deleteCharacterNeedsNoEscape() throws {
    // JSON only requires escaping below 0x20; 0x7F is an ordinary character.
    #expect(try JSONCompactor.compact(stringLiteral([0x61, 0x7F, 0x62])) == stringLiteral([0x61, 0x7F, 0x62]))
}

@Test(arguments: [
    [0xC2, 0x80] as [UInt8],  // U+0080, smallest two-byte
    [0xDF, 0xBF],  // U+07FF
    [0xE0, 0xA0, 0x80],  // U+0800, smallest three-byte
    [0xED, 0x9F, 0xBF],  // U+D7FF, just below the surrogates
    [0xEE, 0x80, 0x80],  // U+E000, just above the surrogates
    [0xEF, 0xBF, 0xBF],  // U+FFFF
    [0xF0, 0x90, 0x80, 0x80],  // U+10000, smallest four-byte
    [0xF4, 0x8F, 0xBF, 0xBF],  // U+10FFFF, the largest code point
])
func validUTF8BoundarySequencesAreAccepted(_ sequence: [UInt8]) throws {
    let literal = stringLiteral(Array("a".utf8) + sequence + Array("b".utf8))
    #expect(try JSONCompactor.compact(literal) == literal)
}

@Test func longStringsWithMixedContentAreCopiedIntact() throws {
    let content = String(repeating: "plain ascii text, ", count: 40) + "é€😀" + String(repeating: "more \\n text ", count: 30)
    let json = "{ \"message\" : \"\(content)\" }"
    #expect(try compacted(json) == "{\"message\":\"\(content)\"}")
}

// MARK: - Input forms

@Test func byteArrayAndStringOverloadsAgree() throws {
    let json = " [1, \"two\"] "
    #expect(try JSONCompactor.compact(Array(json.utf8)) == Array("[1,\"two\"]".utf8))
    #expect(try JSONCompactor.compact(json) == Array("[1,\"two\"]".utf8))
}

@Test func sliceOffsetsCountFromTheSliceStart() throws {
    let buffer = Array("xxxx[1, 2]yyyy".utf8)
    #expect(try JSONCompactor.compact(buffer[4..<10]) == Array("[1,2]".utf8))
    let broken = Array("xxxx[1 2]".utf8)
    #expect(failure(Array(broken[4...])) == .invalidJSON(offset: 3, reason: "expected ',' or ']' after array element"))
    #expect(throws: JournalError.invalidJSON(offset: 3, reason: "expected ',' or ']' after array element")) {
        try JSONCompactor.compact(broken[4...])
    }
}

@Test func emptyRawBufferIsRejected() {
    #expect(throws: JournalError.invalidJSON(offset: 0, reason: "empty input: expected a JSON value")) {
        try JSONCompactor.compact(UnsafeRawBufferPointer(start: nil, count: 0))
    }
}

// MARK: - Structural errors

@Test(arguments: [
    ("", 0, "empty input: expected a JSON value"),
    (" \n\t ", 4, "empty input: expected a JSON value"),
    ("[1,]", 3, "expected a JSON value, found ']'"),
    ("[,1]", 1, "expected a JSON value, found ','"),
    ("{\"a\":1,}", 7, "expected '\"' to begin an object key after ',', found '}'"),
    ("{1:2}", 1, "expected '\"' to begin an object key or '}' after '{', found '1'"),
    ("{", 1, "expected '\"' to begin an object key or '}' after '{', found end of input"),
    ("{\"a\" 1}", 5, "expected ':' after object key"),
    ("{\"a\"", 4, "expected ':' after object key"),
    ("{\"a\":1 \"b\":2}", 7, "expected ',' or '}' after object member"),
    ("{\"a\":1]", 6, "expected ',' or '}' after object member"),
    ("[1 2]", 3, "expected ',' or ']' after array element"),
    ("[1}", 2, "expected ',' or ']' after array element"),
    ("[1", 2, "unexpected end of input, expected ',' or ']'"),
    ("{\"a\":1", 6, "unexpected end of input, expected ',' or '}'"),
    ("{\"a\":", 5, "unexpected end of input, expected a JSON value"),
    ("[", 1, "unexpected end of input, expected a JSON value"),
    ("1 2", 2, "unexpected data after the JSON value"),
    ("{}x", 2, "unexpected data after the JSON value"),
    ("[] []", 3, "unexpected data after the JSON value"),
    ("]", 0, "expected a JSON value, found ']'"),
    ("'a'", 0, "expected a JSON value, found '''"),
])
func structuralErrorsReportOffsetAndExpectation(_ json: String, _ offset: Int, _ reason: String) {
    #expect(failure(json) == .invalidJSON(offset: offset, reason: reason))
}

// MARK: - String errors

@Test(arguments: [
    ("\"abc", 0, "unterminated string"),
    ("[\"a\\", 1, "unterminated string"),
    ("[1,\"abcdefghijklmnopqrstuvwxyz", 3, "unterminated string"),
    ("\"a\\x\"", 2, "invalid escape: '\\' followed by 'x'"),
    ("\"a\\'\"", 2, "invalid escape: '\\' followed by '''"),
    ("\"\\u12G4\"", 1, "invalid \\u escape: expected 4 hex digits"),
    ("\"\\u12\"", 1, "invalid \\u escape: expected 4 hex digits"),
    ("\"\\U0041\"", 1, "invalid escape: '\\' followed by 'U'"),
    ("\"\\uD800\"", 1, "lone surrogate escape: a high surrogate must be followed by a \\uDC00-\\uDFFF escape"),
    ("\"\\uD800\\u0041\"", 1, "lone surrogate escape: a high surrogate must be followed by a \\uDC00-\\uDFFF escape"),
    ("\"\\uDBFF\\uDBFF\"", 1, "lone surrogate escape: a high surrogate must be followed by a \\uDC00-\\uDFFF escape"),
    ("\"x\\uD83Dx\"", 2, "lone surrogate escape: a high surrogate must be followed by a \\uDC00-\\uDFFF escape"),
    ("\"\\uDC00\"", 1, "lone surrogate escape: a low surrogate must follow a \\uD800-\\uDBFF escape"),
    ("\"\\uDE00\\uD83D\"", 1, "lone surrogate escape: a low surrogate must follow a \\uD800-\\uDBFF escape"),
])
func stringErrorsReportOffsetAndReason(_ json: String, _ offset: Int, _ reason: String) {
    #expect(failure(json) == .invalidJSON(offset: offset, reason: reason))
}

@Test(arguments: [0x00, 0x09, 0x0A, 0x0D, 0x1F] as [UInt8])
func rawControlCharactersInStringsAreRejected(_ control: UInt8) {
    let hex = control < 0x10 ? "0x0\(String(control, radix: 16, uppercase: true))" : "0x\(String(control, radix: 16, uppercase: true))"
    #expect(
        failure(stringLiteral([0x61, 0x62, control])) == .invalidJSON(offset: 3, reason: "raw control character \(hex) in string (must be escaped)"))
}

@Test func specialBytesAreFoundAtEveryPositionOfALongString() {
    // The string scanner checks eight bytes at a time; a quote, backslash, control or non-ASCII byte must be
    // noticed wherever it falls within a word.
    for position in 0..<40 {
        var content = [UInt8](repeating: UInt8(ascii: "a"), count: 48)
        content[position] = 0x01
        #expect(
            failure(stringLiteral(content)) == .invalidJSON(offset: 1 + position, reason: "raw control character 0x01 in string (must be escaped)"),
            "control byte at \(position)")

        content[position] = 0xFF
        #expect(failure(stringLiteral(content)) == .invalidJSON(offset: 1 + position, reason: "invalid UTF-8 byte 0xFF"), "0xFF at \(position)")

        content[position] = UInt8(ascii: "\\")
        #expect(
            failure(stringLiteral(content)) == .invalidJSON(offset: 1 + position, reason: "invalid escape: '\\' followed by 'a'"),
            "backslash at \(position)")

        // A quote ends the string early, so the following 'a' is trailing data.
        content[position] = UInt8(ascii: "\"")
        #expect(failure(stringLiteral(content)) == .invalidJSON(offset: 2 + position, reason: "unexpected data after the JSON value"))

        content[position] = UInt8(ascii: "a")
    }
}

// MARK: - UTF-8 errors

@Test(arguments: [
    ([0xFF] as [UInt8], "invalid UTF-8 byte 0xFF"),
    ([0xFE], "invalid UTF-8 byte 0xFE"),
    ([0xF5, 0x80, 0x80, 0x80], "invalid UTF-8 byte 0xF5"),
    ([0x80], "invalid UTF-8 byte 0x80 (unexpected continuation byte)"),
    ([0xBF, 0x41], "invalid UTF-8 byte 0xBF (unexpected continuation byte)"),
    ([0xC0, 0xAF], "invalid UTF-8 byte 0xC0 (overlong encoding)"),
    ([0xC1, 0xBF], "invalid UTF-8 byte 0xC1 (overlong encoding)"),
    ([0xE0, 0x80, 0xAF], "overlong UTF-8 encoding (0xE0 0x80)"),
    ([0xE0, 0x9F, 0xBF], "overlong UTF-8 encoding (0xE0 0x9F)"),
    ([0xF0, 0x80, 0x80, 0xAF], "overlong UTF-8 encoding (0xF0 0x80)"),
    ([0xF0, 0x8F, 0xBF, 0xBF], "overlong UTF-8 encoding (0xF0 0x8F)"),
    ([0xED, 0xA0, 0x80], "UTF-8 encoded surrogate (U+D800-U+DFFF) (0xED 0xA0)"),
    ([0xED, 0xBF, 0xBF], "UTF-8 encoded surrogate (U+D800-U+DFFF) (0xED 0xBF)"),
    ([0xF4, 0x90, 0x80, 0x80], "UTF-8 encoding of a code point above U+10FFFF (0xF4 0x90)"),
    ([0xC3, 0x41], "truncated UTF-8 sequence starting with 0xC3"),
    ([0xE2, 0x82, 0x41], "truncated UTF-8 sequence starting with 0xE2"),
    ([0xF0, 0x9F, 0x98, 0x41], "truncated UTF-8 sequence starting with 0xF0"),
    ([0xE2, 0x82], "truncated UTF-8 sequence starting with 0xE2"),
])
func invalidUTF8IsRejectedAtTheSequenceStart(_ sequence: [UInt8], _ reason: String) {
    // Two ASCII bytes before the sequence: its lead byte is at offset 3.
    #expect(failure(stringLiteral(Array("ab".utf8) + sequence)) == .invalidJSON(offset: 3, reason: reason))
}

@Test func truncatedUTF8AtEndOfInputIsRejected() {
    #expect(failure([UInt8(ascii: "\""), 0xE2, 0x82]) == .invalidJSON(offset: 1, reason: "truncated UTF-8 sequence starting with 0xE2"))
}

@Test func nonASCIIOutsideStringsIsRejected() {
    #expect(failure("[é]") == .invalidJSON(offset: 1, reason: "expected a JSON value, found byte 0xC3"))
    #expect(failure([0xEF, 0xBB, 0xBF] + Array("{}".utf8)) == .invalidJSON(offset: 0, reason: "expected a JSON value, found byte 0xEF"))
}

// MARK: - Number and literal errors

@Test(arguments: [
    ("01", 0, "leading zeros are not allowed in numbers"),
    ("-01", 1, "leading zeros are not allowed in numbers"),
    ("[00]", 1, "leading zeros are not allowed in numbers"),
    ("+1", 0, "expected a JSON value, found '+'"),
    (".5", 0, "expected a JSON value, found '.'"),
    ("-", 1, "expected a digit after '-' in number"),
    ("-a", 1, "expected a digit after '-' in number"),
    ("-.5", 1, "expected a digit after '-' in number"),
    ("1.", 2, "expected a digit after '.' in number"),
    ("1.e5", 2, "expected a digit after '.' in number"),
    ("[1.]", 3, "expected a digit after '.' in number"),
    ("1e", 2, "expected a digit in number exponent"),
    ("1E+", 3, "expected a digit in number exponent"),
    ("1e-x", 3, "expected a digit in number exponent"),
    ("1.5.3", 3, "unexpected data after the JSON value"),
    ("0x10", 1, "unexpected data after the JSON value"),
    ("Infinity", 0, "expected a JSON value, found 'I'"),
    ("-Infinity", 1, "expected a digit after '-' in number"),
    ("NaN", 0, "expected a JSON value, found 'N'"),
])
func numberErrorsReportOffsetAndReason(_ json: String, _ offset: Int, _ reason: String) {
    #expect(failure(json) == .invalidJSON(offset: offset, reason: reason))
}

@Test(arguments: [
    ("tru", 0, "invalid literal, expected 'true'"),
    ("[trUe]", 1, "invalid literal, expected 'true'"),
    ("fals", 0, "invalid literal, expected 'false'"),
    ("{\"a\":nul}", 5, "invalid literal, expected 'null'"),
    ("nulll", 4, "unexpected data after the JSON value"),
    ("[truex]", 5, "expected ',' or ']' after array element"),
    ("True", 0, "expected a JSON value, found 'T'"),
    ("undefined", 0, "expected a JSON value, found 'u'"),
])
func literalErrorsReportOffsetAndReason(_ json: String, _ offset: Int, _ reason: String) {
    #expect(failure(json) == .invalidJSON(offset: offset, reason: reason))
}

// MARK: - Nesting

@Test func nestingOfExactlyMaxDepthIsAccepted() throws {
    let arrays = String(repeating: "[", count: 256) + String(repeating: "]", count: 256)
    #expect(try compacted(arrays) == arrays)
    let objects = String(repeating: "{\"a\":", count: 255) + "{}" + String(repeating: "}", count: 255)
    #expect(try compacted(objects) == objects)
}

@Test func nestingBeyondMaxDepthIsRejected() {
    let arrays = String(repeating: "[", count: 257) + String(repeating: "]", count: 257)
    #expect(failure(arrays) == .invalidJSON(offset: 256, reason: "nesting deeper than 256 levels"))
    // Objects count the same way; the 257th '{' sits after 256 copies of `{"a":` (5 bytes each).
    let objects = String(repeating: "{\"a\":", count: 256) + "{}" + String(repeating: "}", count: 256)
    #expect(failure(objects) == .invalidJSON(offset: 256 * 5, reason: "nesting deeper than 256 levels"))
}

@Test func customDepthLimitIsHonoured() throws {
    #expect(try compacted("[[1]]", maxDepth: 2) == "[[1]]")
    #expect(failure("[[[1]]]", maxDepth: 2) == .invalidJSON(offset: 2, reason: "nesting deeper than 2 levels"))
    #expect(try compacted("\"scalars need no depth\"", maxDepth: 0) == "\"scalars need no depth\"")
    #expect(failure("[]", maxDepth: 0) == .invalidJSON(offset: 0, reason: "nesting deeper than 0 levels"))
}

@Test func hundredThousandOpenBracketsFailCleanlyOnASmallStack() {
    let job = compactOnSmallStack([UInt8](repeating: UInt8(ascii: "["), count: 100_000))
    #expect(job.finished)
    #expect(job.error == .invalidJSON(offset: 256, reason: "nesting deeper than 256 levels"))
}

@Test func hundredThousandLevelsAreScannedWithoutRecursion() {
    // With the limit lifted the scanner really goes 100,000 levels deep; on a 64 KiB stack this only
    // works because nesting lives in an explicit stack, not in call frames.
    let balanced = [UInt8](repeating: UInt8(ascii: "["), count: 100_000) + [UInt8](repeating: UInt8(ascii: "]"), count: 100_000)
    let unbalanced = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
    let accepted = compactOnSmallStack(balanced, maxDepth: 200_000)
    #expect(accepted.finished)
    #expect(accepted.accepted == balanced)
    let rejected = compactOnSmallStack(unbalanced, maxDepth: 200_000)
    #expect(rejected.finished)
    #expect(rejected.error == .invalidJSON(offset: 100_000, reason: "unexpected end of input, expected a JSON value"))
}

// MARK: - Generated documents

/// Deterministic generator so a failure can be reproduced from the seed.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds a random document twice: once with random whitespace between tokens, once compact.
private struct DocumentGenerator {
    var random: SplitMix64
    var spaced: [UInt8] = []
    var compact: [UInt8] = []

    mutating func whitespace() {
        let choices: [UInt8] = [0x20, 0x0A, 0x0D, 0x09]
        for _ in 0..<Int.random(in: 0...2, using: &random) { spaced.append(choices.randomElement(using: &random)!) }
    }

    mutating func token(_ text: String) {
        spaced += Array(text.utf8)
        compact += Array(text.utf8)
    }

    mutating func value(depth: Int) {
        whitespace()
        switch Int.random(in: 0..<(depth > 5 ? 5 : 7), using: &random) {
        case 0: token(["0", "-1", "3.5e-7", "1E+10", "123456789012345678901234567890", "-0.0"].randomElement(using: &random)!)
        case 1: token(["true", "false", "null"].randomElement(using: &random)!)
        case 2, 3, 4:
            token(
                [
                    #""""#, #""plain""#, #""with  spaces inside""#, #""\u00e9\n\t\"\\\/""#, "\"é€😀\"", #""\uD83D\uDE00""#,
                    "\"a long ascii string that spans several eight byte words\"", #""{[,:]}""#,
                ].randomElement(using: &random)!)
        case 5:
            token("[")
            let count = Int.random(in: 0...4, using: &random)
            for index in 0..<count {
                if index > 0 {
                    whitespace()
                    token(",")
                }
                value(depth: depth + 1)
            }
            whitespace()
            token("]")
        default:
            token("{")
            let count = Int.random(in: 0...4, using: &random)
            for index in 0..<count {
                if index > 0 {
                    whitespace()
                    token(",")
                }
                whitespace()
                token(["\"k\"", "\"key with space\"", "\"\\\"q\"", "\"k\""].randomElement(using: &random)!)
                whitespace()
                token(":")
                value(depth: depth + 1)
            }
            whitespace()
            token("}")
        }
        whitespace()
    }
}

@Test func generatedDocumentsCompactToTheirCompactSpelling() throws {
    for seed in 0..<500 as Range<UInt64> {
        var generator = DocumentGenerator(random: SplitMix64(state: seed))
        generator.value(depth: 0)
        let result = try JSONCompactor.compact(generator.spaced)
        #expect(result == generator.compact, "seed \(seed)")
        #expect(try JSONCompactor.compact(result) == result, "compacting is idempotent, seed \(seed)")
    }
}

@Test func corruptedDocumentsNeverCrashAndReportAnOffsetInsideTheInput() throws {
    var random = SplitMix64(state: 42)
    for seed in 0..<500 as Range<UInt64> {
        var generator = DocumentGenerator(random: SplitMix64(state: seed))
        generator.value(depth: 0)
        var bytes = generator.spaced
        // Overwrite, drop or insert a few bytes anywhere.
        for _ in 0..<Int.random(in: 1...3, using: &random) where !bytes.isEmpty {
            let position = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<3, using: &random) {
            case 0: bytes[position] = UInt8.random(in: 0...255, using: &random)
            case 1: bytes.remove(at: position)
            default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: position)
            }
        }
        do throws(JournalError) {
            let result = try JSONCompactor.compact(bytes)
            #expect(try JSONCompactor.compact(result) == result, "seed \(seed)")
        } catch {
            guard case .invalidJSON(let offset, let reason) = error else {
                Issue.record("unexpected error \(error), seed \(seed)")
                continue
            }
            #expect((0...bytes.count).contains(offset), "seed \(seed)")
            #expect(!reason.isEmpty)
        }
    }
}
