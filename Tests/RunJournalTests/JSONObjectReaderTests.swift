import Testing

@testable import RunJournal

#if canImport(Glibc)
import Glibc
#endif

private func bytes(_ text: String) -> ArraySlice<UInt8> { ArraySlice(text.utf8) }

private func text(_ slice: ArraySlice<UInt8>) -> String { String(decoding: slice, as: UTF8.self) }

/// Members as (key, value text) pairs, for readable expectations.
private func members(_ json: String) throws -> [(String, String)] {
    try JSONObjectReader.members(of: bytes(json)).map { ($0.key, text($0.value)) }
}

private func membersFailure(_ json: String) -> JournalError? {
    do throws(JournalError) {
        _ = try JSONObjectReader.members(of: bytes(json))
        return nil
    } catch {
        return error
    }
}

private func decodeFailure(_ bytes: [UInt8]) -> JournalError? {
    do throws(JournalError) {
        _ = try JSONObjectReader.decodeString(ArraySlice(bytes))
        return nil
    } catch {
        return error
    }
}

private func decodeFailure(_ literal: String) -> JournalError? { decodeFailure(Array(literal.utf8)) }

// MARK: - members

@Test func membersSplitAnEventBodyIntoTypeAndData() throws {
    let result = try members(#"{"type":"step.done","data":{"a":[1,2,{"b":"}]"}],"c":null}}"#)
    #expect(result.map(\.0) == ["type", "data"])
    #expect(result.map(\.1) == [#""step.done""#, #"{"a":[1,2,{"b":"}]"}],"c":null}"#])
}

@Test func memberValuesOfEveryKindAreSlicedExactly() throws {
    let result = try members(#"{"s":"x,y}","n":-1.5e3,"t":true,"f":false,"z":null,"a":[[],[1]],"o":{},"e":""}"#)
    #expect(result.map(\.0) == ["s", "n", "t", "f", "z", "a", "o", "e"])
    #expect(result.map(\.1) == [#""x,y}""#, "-1.5e3", "true", "false", "null", "[[],[1]]", "{}", #""""#])
}

@Test func memberValuesShareTheIndicesOfTheInput() throws {
    let line = Array(#"{"id":7}{"id":"r1","metadata":{"k":"v"}}"#.utf8)
    let object = line[8...]
    let result = try JSONObjectReader.members(of: object)
    #expect(result.count == 2)
    #expect(result[0].value.startIndex == 14)
    #expect(text(result[0].value) == #""r1""#)
    #expect(result[1].value.startIndex == 30)
    #expect(result[1].value.endIndex == line.count - 1)
    #expect(text(result[1].value) == #"{"k":"v"}"#)
}

@Test func emptyObjectHasNoMembers() throws {
    #expect(try JSONObjectReader.members(of: bytes("{}")).isEmpty)
}

@Test func keysAreDecoded() throws {
    let result = try members(#"{"a\"b":1,"\u00e9":2,"\uD83D\uDE00":3,"plain":4}"#)
    #expect(result.map(\.0) == ["a\"b", "é", "😀", "plain"])
}

@Test func duplicateKeysAreAllReturnedInOrder() throws {
    let result = try members(#"{"k":1,"other":2,"k":3}"#)
    #expect(result.map(\.0) == ["k", "other", "k"])
    #expect(result.map(\.1) == ["1", "2", "3"])
}

@Test func stringsWithBracketsAndEscapedQuotesDoNotConfuseSkipping() throws {
    let result = try members(#"{"a":["\"]}",{"\\":"{"}],"b":"\\","c":1}"#)
    #expect(result.map(\.0) == ["a", "b", "c"])
    #expect(result.map(\.1) == [#"["\"]}",{"\\":"{"}]"#, #""\\""#, "1"])
}

@Test func whitespaceBetweenTokensIsTolerated() throws {
    let result = try members(" { \"a\" : [ 1 , 2 ] ,\n\"b\" : true } ")
    #expect(result.map(\.0) == ["a", "b"])
    #expect(result.map(\.1) == ["[ 1 , 2 ]", "true"])
}

@Test(arguments: [("[1]", 0), ("\"x\"", 0), ("1", 0), ("null", 0), ("", 0), ("   ", 3), (" [", 1)])
func membersOfANonObjectIsAnError(_ json: String, _ offset: Int) {
    #expect(membersFailure(json) == .invalidJSON(offset: offset, reason: "expected a JSON object"))
}

@Test(arguments: [
    (#"{"a":[1,2"#, 5, "unterminated array"),
    (#"{"a":{"b":1"#, 5, "unterminated object"),
    (#"{"a""#, 4, "expected ':' after object key"),
    (#"{"a":"#, 5, "unexpected end of input, expected a JSON value"),
    (#"{"a":1"#, 6, "unexpected end of input, expected ',' or '}'"),
    (#"{"a":1;"b":2}"#, 6, "expected ',' or '}' after object member"),
    (#"{"a":"x}"#, 5, "unterminated string"),
    (#"{"a:1}"#, 1, "unterminated string"),
    (#"{a:1}"#, 1, "expected '\"' to begin an object key"),
    (#"{"a":1}x"#, 7, "unexpected data after the JSON object"),
    (#"{"a":,}"#, 5, "expected a JSON value, found ','"),
    (#"{"\uD800":1}"#, 2, "lone surrogate escape: a high surrogate must be followed by a \\uDC00-\\uDFFF escape"),
])
func malformedObjectsGiveErrorsNotCrashes(_ json: String, _ offset: Int, _ reason: String) {
    #expect(membersFailure(json) == .invalidJSON(offset: offset, reason: reason))
}

@Test func deeplyNestedMemberValuesAreSkippedWithoutRecursion() {
    let depth = 100_000
    let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    let json = Array("{\"deep\":\(nested),\"after\":1}".utf8)

    final class Job: @unchecked Sendable {
        let json: [UInt8]
        var keys: [String] = []
        var deepLength = 0
        init(json: [UInt8]) { self.json = json }
    }
    let job = Job(json: json)
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    #expect(pthread_attr_setstacksize(&attributes, 64 * 1024) == 0)
    var thread = pthread_t()
    let unmanaged = Unmanaged.passRetained(job)
    let created = pthread_create(
        &thread, &attributes,
        { argument in
            let job = Unmanaged<Job>.fromOpaque(argument!).takeUnretainedValue()
            if let members = try? JSONObjectReader.members(of: job.json[...]) {
                job.keys = members.map(\.key)
                job.deepLength = members.first?.value.count ?? 0
            }
            return nil
        }, unmanaged.toOpaque())
    #expect(created == 0)
    if created == 0 { pthread_join(thread, nil) }
    unmanaged.release()
    #expect(job.keys == ["deep", "after"])
    #expect(job.deepLength == 2 * depth)
}

@Test func membersSurviveSplicingThroughJSONWriter() throws {
    let documents = [
        #"{ "type" : "log" , "data" : { "line" : "a \"quoted\" {x}" , "n" : [ 1 , 2.5 , -3e2 ] } }"#,
        #"{"id":"run_1","metadata":{"owner":"ops","tags":["a","b"],"nested":{"deeper":[{"x":null}]}}}"#,
        #"{"":"","\\":"\\\"","\u0041":[]}"#,
    ]
    for document in documents {
        let compact = try JSONCompactor.compact(document)
        let result = try JSONObjectReader.members(of: compact[...])
        var writer = JSONWriter()
        writer.object { object in
            for member in result {
                object.key(member.key)
                object.raw(member.value)
            }
        }
        // JSONWriter re-escapes keys in its own spelling, so compare what a second read sees.
        let reread = try JSONObjectReader.members(of: writer.bytes[...])
        #expect(reread.map(\.key) == result.map(\.key))
        #expect(reread.map { Array($0.value) } == result.map { Array($0.value) })
    }
}

// MARK: - kind

@Test(arguments: [
    ("{}", JSONValueKind.object), (#"{"a":1}"#, .object), ("[]", .array), (#""s""#, .string), ("0", .number),
    ("-1.5", .number), ("true", .bool), ("false", .bool), ("null", .null), ("  [1]", .array), ("\n\"x\"", .string),
])
func kindIsReadFromTheFirstByte(_ json: String, _ kind: JSONValueKind) {
    #expect(JSONObjectReader.kind(of: bytes(json)) == kind)
}

@Test func kindOfEmptyInputIsNumberWhichNoIntegerDecodes() {
    #expect(JSONObjectReader.kind(of: []) == .number)
    #expect(JSONObjectReader.decodeInt64([]) == nil)
}

@Test func kindWorksOnMemberValueSlices() throws {
    let result = try JSONObjectReader.members(of: bytes(#"{"a":{},"b":[],"c":"","d":1,"e":true,"f":null}"#))
    #expect(result.map { JSONObjectReader.kind(of: $0.value) } == [.object, .array, .string, .number, .bool, .null])
}

// MARK: - decodeString

@Test(arguments: [
    (#""""#, ""),
    (#""plain text""#, "plain text"),
    (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{08}\u{0C}\n\r\t"),
    (#""\u0041\u00e9\u20AC\u0000""#, "Aé€\u{0}"),
    (#""\uD83D\uDE00 \ud83d\ude00""#, "😀 😀"),
    (#""\uDBFF\uDFFF""#, "\u{10FFFF}"),
    ("\"é€😀 raw\"", "é€😀 raw"),
    (#""mixed é \n 😀""#, "mixed é \n 😀"),
])
func decodeStringResolvesEscapesAndSurrogatePairs(_ literal: String, _ expected: String) throws {
    #expect(try JSONObjectReader.decodeString(bytes(literal)) == expected)
}

@Test func decodeStringWorksOnASliceInsideALargerBuffer() throws {
    let buffer = Array(#"xx"a\tb"yy"#.utf8)
    #expect(try JSONObjectReader.decodeString(buffer[2..<8]) == "a\tb")
}

@Test(arguments: [
    ("abc", 0, "expected a JSON string literal"),
    ("", 0, "expected a JSON string literal"),
    (" \"a\"", 0, "expected a JSON string literal"),
    ("\"abc", 0, "unterminated string"),
    ("\"", 0, "unterminated string"),
    ("\"a\"b", 3, "unexpected data after the string literal"),
    ("\"a\" ", 3, "unexpected data after the string literal"),
    ("\"a\\q\"", 2, "invalid escape: '\\' followed by 'q'"),
    ("\"\\u00\"", 1, "invalid \\u escape: expected 4 hex digits"),
    ("\"ab\\uD800\"", 3, "lone surrogate escape: a high surrogate must be followed by a \\uDC00-\\uDFFF escape"),
    ("\"\\uDFFF\"", 1, "lone surrogate escape: a low surrogate must follow a \\uD800-\\uDBFF escape"),
    ("\"a\nb\"", 2, "raw control character 0x0A in string (must be escaped)"),
])
func decodeStringRejectsInvalidLiterals(_ literal: String, _ offset: Int, _ reason: String) {
    #expect(decodeFailure(literal) == .invalidJSON(offset: offset, reason: reason))
}

@Test func decodeStringRejectsInvalidUTF8() {
    #expect(decodeFailure([0x22, 0x61, 0xC0, 0xAF, 0x22]) == .invalidJSON(offset: 2, reason: "invalid UTF-8 byte 0xC0 (overlong encoding)"))
    #expect(decodeFailure([0x22, 0xED, 0xA0, 0x80, 0x22]) == .invalidJSON(offset: 1, reason: "UTF-8 encoded surrogate (U+D800-U+DFFF) (0xED 0xA0)"))
}

// MARK: - decodeInt64

@Test(arguments: [
    ("0", 0 as Int64?), ("-0", 0), ("7", 7), ("42", 42), ("-42", -42), ("1000000", 1_000_000),
    ("9223372036854775807", Int64.max), ("-9223372036854775808", Int64.min),
])
func decodeInt64ReadsIntegerLiterals(_ literal: String, _ expected: Int64?) {
    #expect(JSONObjectReader.decodeInt64(bytes(literal)) == expected)
}

@Test(arguments: [
    "9223372036854775808", "-9223372036854775809", "99999999999999999999", "01", "-01", "00", "1.0", "1e3", "1E3",
    "+1", "", "-", " 1", "1 ", "true", "null", "\"1\"", "0x10", "1-",
])
func decodeInt64RejectsEverythingElse(_ literal: String) {
    #expect(JSONObjectReader.decodeInt64(bytes(literal)) == nil)
}

@Test func decodeInt64WorksOnMemberValueSlices() throws {
    let result = try JSONObjectReader.members(of: bytes(#"{"after":120,"limit":-5,"bad":1.5}"#))
    #expect(result.map { JSONObjectReader.decodeInt64($0.value) } == [120, -5, nil])
}
