import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under the system temp dir, removed when the value goes away: every test gets its own
/// journal directory of real files.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ label: String = "api") {
        var template = Array("\(NSTemporaryDirectory())/runjournal-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: \(String(cString: strerror(errno)))")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

func readBytes(_ path: String) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    return [UInt8](data)
}

/// The journal's complete lines (without `\n`), as bytes.
func journalLineBytes(_ path: String) -> [[UInt8]] {
    var lines = readBytes(path).split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    lines.removeLast()  // after the last "\n": empty, or a torn tail
    return lines
}

/// Where a journal line's fields are, read the plain way (the envelope is fixed:
/// `{"seq":N,"ts":"…","type":"…","data":…}`), independent of the product's scanner.
struct JournalLineFields {
    var seq: Int64
    var ts: String
    var type: String
    var data: [UInt8]

    init(_ line: [UInt8]) {
        let text = String(decoding: line, as: UTF8.self)
        let seqStart = text.index(text.startIndex, offsetBy: #"{"seq":"#.count)
        let seqEnd = text.range(of: #","ts":""#)!
        seq = Int64(text[seqStart..<seqEnd.lowerBound])!
        let typeMarker = text.range(of: #"","type":""#)!
        ts = String(text[seqEnd.upperBound..<typeMarker.lowerBound])
        // The type ends at its closing quote; optional keys ("more", "idempotency") may stand before data.
        let typeEnd = text[typeMarker.upperBound...].firstIndex(of: "\"")!
        type = String(text[typeMarker.upperBound..<typeEnd])
        let dataMarker = text.range(of: #","data":"#, range: typeEnd..<text.endIndex)!
        let dataStart = text.utf8.distance(from: text.startIndex, to: dataMarker.upperBound)
        data = Array(line[dataStart..<(line.count - 1)])
    }
}

func journalFields(_ path: String) -> [JournalLineFields] {
    journalLineBytes(path).map(JournalLineFields.init)
}

extension Array {
    /// The element at `index`, or nil: lets an expectation about "the third frame" fail instead of crashing
    /// the whole test process when a buggy stream sent fewer.
    subscript(safe index: Int) -> Element? {
        indices.contains(index) ? self[index] : nil
    }
}
