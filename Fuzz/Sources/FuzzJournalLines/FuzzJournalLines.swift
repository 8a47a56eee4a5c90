#if canImport(Glibc)
import Glibc
#endif
import FuzzSupport
// @testable for JournalReader's file constructor and chunk size (debug builds are built for testing).
@testable import RunJournal

/// The journal line scanner and the two line iterations over the same bytes:
/// - `EventLine.scan` returns fields within the line (type before data, data non-empty, seq positive, a valid
///   type), and a scanned line is exactly what `EventLine.append` writes for those fields: the scanner
///   accepts no spelling the writer would not produce (timestamps before 1970 excepted, which the writer
///   clamps);
/// - `JournalReader.forEachLine(in:)` yields the complete lines in order with their file offsets, stops
///   with `corruptJournal` at the first line that does not scan, ignores an unterminated tail, and stops when
///   the body says so;
/// - reading the same bytes from a file with a tiny chunk size (lines straddling reads, the buffer
///   growing) yields the same lines up to the last committed one (a batch's lines carry "more":true until
///   its last) and ends there.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJournalLines(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    checkJournalLines(inputBytes(data, size))
    return 0
}

struct SeenLine: Equatable {
    var offset: Int64
    var bytes: [UInt8]
    var fields: EventLine.Fields
}

/// A scratch file for the file-based reader, created once and rewritten per input.
let scratchFD: Int32 = {
    // In memory (tmpfs): truncating and rewriting a disk file per input costs more than the code under test.
    var template = Array("/dev/shm/fuzz-journal-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    precondition(fd >= 0, "mkstemp in /dev/shm failed")
    unlink(template)
    return fd
}()

func checkJournalLines(_ input: [UInt8]) {
    let base: Int64 = 4096

    // Every piece between newlines, the unterminated tail included, through the scanner on its own.
    var expected: [SeenLine] = []
    var expectedFailureAt: Int64?
    var start = 0
    for piece in input.split(separator: 0x0A, omittingEmptySubsequences: false) {
        let line = Array(piece)
        let isComplete = start + line.count < input.count
        let fields = checkScan(line)
        if isComplete && expectedFailureAt == nil {
            if let fields {
                expected.append(SeenLine(offset: base + Int64(start), bytes: line, fields: fields))
            } else {
                expectedFailureAt = base + Int64(start)
            }
        }
        start += line.count + 1
    }

    // In memory.
    var seen: [SeenLine] = []
    var failure: Error?
    input.withUnsafeBytes { buffer in
        do {
            try JournalReader.forEachLine(in: buffer, offset: base, path: "fuzz") { line in
                seen.append(SeenLine(offset: line.offset, bytes: Array(line.bytes), fields: line.fields))
                require(line.endOffset == line.offset + Int64(line.bytes.count) + 1, "endOffset")
                require(Array(line.type) == Array(line.bytes[line.fields.type]), "type bytes")
                return true
            }
        } catch { failure = error }
    }
    require(seen == expected, "forEachLine(in:) yielded \(seen.count) lines, expected \(expected.count) in \(show(input))")
    checkFailure(failure, expectedAt: expectedFailureAt, input: input)

    // Stopping early: the body's false is the last call.
    if expected.count >= 2 {
        var calls = 0
        input.withUnsafeBytes { buffer in
            try? JournalReader.forEachLine(in: buffer, offset: base, path: "fuzz") { _ in
                calls += 1
                return calls < 2
            }
        }
        require(calls == 2, "forEachLine(in:) went on after the body returned false (\(calls) calls)")
    }

    // From a file, in chunks of 1 to 64 bytes.
    require(ftruncate(scratchFD, 0) == 0, "ftruncate")
    let written = input.withUnsafeBytes { pwrite(scratchFD, $0.baseAddress, $0.count, 0) }
    require(written == input.count, "pwrite wrote \(written) of \(input.count)")
    var reader = JournalReader(fd: scratchFD, path: "fuzz")
    reader.chunkSize = 1 + (input.first.map(Int.init) ?? 0) % 64
    var fromFile: [SeenLine] = []
    var fileFailure: Error?
    var end: Int64 = -1
    do {
        end = try reader.forEachLine(from: 0) { line in
            fromFile.append(SeenLine(offset: line.offset + base, bytes: Array(line.bytes), fields: line.fields))
            return true
        }
    } catch { fileFailure = error }
    // A file read holds back a batch until its last line (one without "more") is there: it yields the
    // complete lines up to the last committed one, and ends there.
    let committedCount = (expected.lastIndex { !$0.fields.more }).map { $0 + 1 } ?? 0
    let expectedFromFile = Array(expected[..<committedCount])
    require(fromFile == expectedFromFile, "forEachLine(from:) with chunk \(reader.chunkSize) yielded \(fromFile.count) lines, expected \(expectedFromFile.count)")
    checkFailure(fileFailure, expectedAt: expectedFailureAt.map { $0 - base }, input: input)
    if fileFailure == nil {
        let lastLineEnd = expectedFromFile.last.map { $0.offset - base + Int64($0.bytes.count) + 1 } ?? 0
        require(end == lastLineEnd, "forEachLine(from:) ended at \(end), the last committed line ends at \(lastLineEnd)")
    }
}

func checkFailure(_ failure: Error?, expectedAt: Int64?, input: [UInt8]) {
    guard let expectedAt else {
        require(failure == nil, "unexpected error \(String(describing: failure)) for \(show(input))")
        return
    }
    guard let error = failure as? JournalError, case .corruptJournal(_, _, let reason) = error else {
        require(false, "expected corruptJournal at byte \(expectedAt), got \(String(describing: failure)) for \(show(input))")
        return
    }
    require(reason.hasPrefix("at byte \(expectedAt):"), "corruptJournal says \(reason.debugDescription), expected byte \(expectedAt)")
}

/// Scans one line and checks what the scanner says about it; returns its fields.
func checkScan(_ line: [UInt8]) -> EventLine.Fields? {
    var failure = ""
    let fields = line.withUnsafeBytes { EventLine.scan($0, failure: &failure) }
    guard let fields else {
        require(!failure.isEmpty, "scan refused \(show(line)) without a reason")
        return nil
    }
    let count = line.count
    require(fields.type.lowerBound >= 0 && fields.type.upperBound <= fields.data.lowerBound, "type \(fields.type) not before data \(fields.data)")
    require(fields.data.lowerBound < fields.data.upperBound && fields.data.upperBound <= count, "data \(fields.data) outside 0..<\(count)")
    require(fields.seq > 0, "seq \(fields.seq)")
    let type = Array(line[fields.type])
    require(EventType.isValid(type), "type \(show(type)) is not valid")
    let lifecycle = line.withUnsafeBytes { EventType.lifecycle(UnsafeRawBufferPointer(rebasing: $0[fields.type])) }
    if let lifecycle { require(lifecycle.rawValue.utf8.elementsEqual(type), "lifecycle \(lifecycle) for \(show(type))") }

    // The writer, given the scanned fields, writes the same line.
    if fields.timestampMillis >= 0 {
        require(fields.timestampMillis <= Timestamp.maxMillis, "ts beyond maxMillis")
        guard let eventType = try? EventType(String(decoding: type, as: UTF8.self)) else {
            require(false, "scanned type \(show(type)) does not make an EventType")
            return fields
        }
        var rewritten: [UInt8] = []
        let idempotency = fields.idempotency.map { range in
            line.withUnsafeBytes { IdempotencyRecord.parse(UnsafeRawBufferPointer(rebasing: $0[range])) }
        } ?? nil
        require(fields.idempotency == nil || idempotency != nil, "scanned an idempotency record that does not parse: \(show(line))")
        EventLine.append(
            seq: fields.seq, millis: fields.timestampMillis, type: eventType, compactData: line[fields.data],
            more: fields.more, idempotency: idempotency, to: &rewritten)
        require(rewritten == line + [0x0A], "scanned \(show(line)), the writer writes \(show(rewritten)) for its fields")
    }
    return fields
}
