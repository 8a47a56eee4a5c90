#if canImport(Glibc)
import Glibc
#endif
import FuzzSupport
// @testable for JournalReader's file constructor (debug builds are built for testing).
@testable import RunJournal

/// `JournalReader.offset(afterSeq:fileSize:)`, the bisection a resumed stream uses, against a linear answer.
///
/// The input describes a valid journal rather than being one: each of its first 100 bytes is a line whose
/// `data` is 8 × that many bytes long (so journals reach the sizes where bisection starts, above 64 KiB),
/// the next byte's low bit adds a torn last line, and the bytes after it are seqs to look up besides the
/// edges. For every seq the answer must be the offset of the first line with a larger seq, or the end of the
/// complete lines when there is none.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJournalSeek(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    checkJournalSeek(inputBytes(data, size))
    return 0
}

let scratchFD: Int32 = {
    // In memory (tmpfs): truncating and rewriting a disk file per input costs more than the code under test.
    var template = Array("/dev/shm/fuzz-seek-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    precondition(fd >= 0, "mkstemp in /dev/shm failed")
    unlink(template)
    return fd
}()

let eventType = try! EventType("tool.output")

func checkJournalSeek(_ input: [UInt8]) {
    let sizes = input.prefix(100)
    var journal: [UInt8] = []
    var lineStarts: [Int64] = []
    for (index, size) in sizes.enumerated() {
        lineStarts.append(Int64(journal.count))
        let data = [UInt8(ascii: "\"")] + [UInt8](repeating: UInt8(ascii: "x"), count: Int(size) * 8) + [UInt8(ascii: "\"")]
        EventLine.append(seq: Int64(index + 1), millis: 1_800_000_000_000 + Int64(index), type: eventType, compactData: data, to: &journal)
    }
    let completeEnd = Int64(journal.count)
    let rest = input.dropFirst(100)
    if let flags = rest.first, flags & 1 == 1 {
        journal += Array(#"{"seq":\#(sizes.count + 1),"ts":"2027-01-15T08:00:00.000Z","type":"tool.output","data":"xx"#.utf8)
    }

    require(ftruncate(scratchFD, 0) == 0, "ftruncate")
    let written = journal.withUnsafeBytes { pwrite(scratchFD, $0.baseAddress, $0.count, 0) }
    require(written == journal.count, "pwrite wrote \(written) of \(journal.count)")
    let reader = JournalReader(fd: scratchFD, path: "fuzz")

    let count = Int64(sizes.count)
    var seqs: [Int64] = [-1, 0, 1, count / 2, count - 1, count, count + 1]
    var lookups = rest.dropFirst()
    while lookups.count >= 2, seqs.count < 11 {
        seqs.append(Int64(lookups.removeFirst()) << 8 | Int64(lookups.removeFirst()))
    }
    for seq in seqs {
        let expected = seq <= 0 ? 0 : (seq < count ? lineStarts[Int(seq)] : completeEnd)
        do {
            let offset = try reader.offset(afterSeq: seq, fileSize: Int64(journal.count))
            require(offset == expected, "offset(afterSeq: \(seq)) = \(offset), expected \(expected) in a \(journal.count)-byte journal of \(count) lines")
        } catch {
            require(false, "offset(afterSeq: \(seq)) threw \(error) on a valid journal of \(count) lines")
        }
    }
}
