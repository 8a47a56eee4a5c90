import Foundation
import FuzzSupport
import RunJournal

/// JSONCompactor and JSONObjectReader against the reference parser and Foundation:
/// - the compactor accepts exactly what the reference accepts (same nesting limit, UTF-8 and surrogate
///   rules), and its output is the reference's compact text: only whitespace removed;
/// - compacting the output again changes nothing, and Foundation's JSONSerialization reads it (except
///   numbers beyond Double's range, which the store keeps verbatim by design and Foundation refuses);
/// - a rejection's offset lies within the input; slices and Strings give the same answer as arrays;
/// - the object reader finds the reference's members (keys decoded, values as compact slices, duplicates
///   kept in order) in the compact output and in the original text, and never fails on bytes it is
///   documented to survive.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONCompactor(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    checkCompactor(inputBytes(data, size))
    return 0
}

func compacted(_ input: [UInt8], maxDepth: Int = JSONCompactor.maxDepth) -> Result<[UInt8], JournalError> {
    do throws(JournalError) { return .success(try JSONCompactor.compact(input, maxDepth: maxDepth)) } catch { return .failure(error) }
}

func checkCompactor(_ input: [UInt8]) {
    let result = compacted(input)
    let reference = ReferenceJSON.parse(input, maxDepth: JSONCompactor.maxDepth)

    switch (result, reference) {
    case (.success(let output), .some(let document)):
        require(output == document.compact, "output \(show(output)) is not the reference's \(show(document.compact)) for \(show(input))")
        require((try? JSONCompactor.compact(output)) == output, "compacting \(show(output)) again changes it")
        checkFoundationReads(output)
        checkObjectReader(input: input, output: output, document: document)
    case (.failure(let error), nil):
        guard case .invalidJSON(let offset, _) = error else {
            require(false, "rejection is not invalidJSON: \(error) for \(show(input))")
            return
        }
        require(offset >= 0 && offset <= input.count, "error offset \(offset) outside 0...\(input.count): \(error)")
    case (.success(let output), nil):
        require(false, "compactor accepted \(show(input)) (as \(show(output))), the reference rejects it")
    case (.failure(let error), .some):
        require(false, "compactor rejected \(show(input)), the reference accepts it: \(error)")
    }

    // A small nesting limit, where the fuzzer reaches it easily.
    let shallow = compacted(input, maxDepth: 2)
    let shallowReference = ReferenceJSON.parse(input, maxDepth: 2)
    require((try? shallow.get()) == shallowReference?.compact, "maxDepth 2: \(shallow) vs reference \(shallowReference != nil) for \(show(input))")

    // Offsets count from a slice's start, whatever its indices are.
    let padded = [UInt8(ascii: "x")] + input
    let sliceResult: Result<[UInt8], JournalError>
    do throws(JournalError) { sliceResult = .success(try JSONCompactor.compact(padded[1...])) } catch { sliceResult = .failure(error) }
    require(sameOutcome(sliceResult, result), "slice \(sliceResult) differs from array \(result) for \(show(input))")
    if let text = String(validating: input, as: UTF8.self) {
        let stringResult: Result<[UInt8], JournalError>
        do throws(JournalError) { stringResult = .success(try JSONCompactor.compact(text)) } catch { stringResult = .failure(error) }
        require(sameOutcome(stringResult, result), "String \(stringResult) differs from array \(result) for \(show(input))")
    }

    // The reader promises not to read out of bounds on any bytes; on a string literal it validates fully.
    _ = try? JSONObjectReader.members(of: input[...])
    _ = try? JSONObjectReader.members(of: padded[1...])
    _ = JSONObjectReader.kind(of: input[...])
    _ = JSONObjectReader.decodeInt64(input[...])
    if input.first == UInt8(ascii: "\"") {
        let decoded = try? JSONObjectReader.decodeString(input[...])
        let isLiteral: Bool
        if case .string = reference?.value, reference?.compact == input { isLiteral = true } else { isLiteral = false }
        require((decoded != nil) == isLiteral, "decodeString accepts \(show(input)): \(decoded != nil), reference: \(isLiteral)")
    }
}

func sameOutcome(_ a: Result<[UInt8], JournalError>, _ b: Result<[UInt8], JournalError>) -> Bool {
    switch (a, b) {
    case (.success(let x), .success(let y)): return x == y
    case (.failure(.invalidJSON(let x, _)), .failure(.invalidJSON(let y, _))): return x == y
    default: return false
    }
}

func checkFoundationReads(_ output: [UInt8]) {
    do {
        _ = try JSONSerialization.jsonObject(with: Data(output), options: [.fragmentsAllowed])
    } catch {
        let description = "\(error)"
        // Documented difference: the store keeps a number's spelling and does not judge its range.
        if description.contains("is not representable in Swift") { return }
        require(false, "Foundation cannot read accepted output \(show(output)): \(description)")
    }
}

func checkObjectReader(input: [UInt8], output: [UInt8], document: ReferenceJSON.Document) {
    let kind = JSONObjectReader.kind(of: output[...])
    switch document.value {
    case .object(let members):
        require(kind == .object, "kind \(kind) for object \(show(output))")
        // The compact output, and the original text (whitespace between tokens is tolerated).
        for (label, bytes) in [("output", output), ("input", input)] {
            let slice = ([UInt8(ascii: " ")] + bytes + [UInt8(ascii: " ")])[1...]
            let found: [(key: String, value: ArraySlice<UInt8>)]
            do { found = try JSONObjectReader.members(of: slice) } catch {
                require(false, "members(of: \(label) \(show(bytes))) failed: \(error)")
                return
            }
            require(found.count == members.count, "\(label): \(found.count) members, the reference has \(members.count) in \(show(bytes))")
            for (member, expected) in zip(found, members) {
                require(Array(member.key.unicodeScalars) == expected.key, "\(label): key \(member.key.debugDescription) in \(show(bytes))")
                require(member.value.startIndex >= slice.startIndex && member.value.endIndex <= slice.endIndex, "value outside the slice")
                let value = Array(member.value)
                let compactValue = (try? JSONCompactor.compact(value)) ?? []
                require(compactValue == expected.compactValue, "\(label): value \(show(value)) is not \(show(expected.compactValue))")
                if label == "output" {
                    require(value == expected.compactValue, "value slice \(show(value)) of compact output is not compact")
                }
            }
        }
    case .array:
        require(kind == .array, "kind \(kind) for array \(show(output))")
    case .string(let scalars):
        require(kind == .string, "kind \(kind) for string \(show(output))")
        let decoded = try? JSONObjectReader.decodeString(output[...])
        require(decoded.map { Array($0.unicodeScalars) } == scalars, "decodeString(\(show(output))) = \(String(describing: decoded))")
        // The writer's escaping of the decoded text reads back as the same text.
        var escaped: [UInt8] = []
        JSONWriter.appendEscaped(String(String.UnicodeScalarView(scalars)), to: &escaped)
        let reread = try? JSONObjectReader.decodeString(escaped[...])
        require(reread.map { Array($0.unicodeScalars) } == scalars, "JSONWriter's \(show(escaped)) does not decode to \(show(output))")
    case .number(let text):
        require(kind == .number, "kind \(kind) for number \(show(output))")
        let isInteger = !text.contains { $0 == UInt8(ascii: ".") || $0 | 0x20 == UInt8(ascii: "e") }
        let expected = isInteger ? Int64(String(decoding: text, as: UTF8.self)) : nil
        require(JSONObjectReader.decodeInt64(output[...]) == expected, "decodeInt64(\(show(output))) is not \(String(describing: expected))")
    case .literal(let text):
        let expected: JSONValueKind = text.first == UInt8(ascii: "n") ? .null : .bool
        require(kind == expected, "kind \(kind) for literal \(show(output))")
    }
}
