#if canImport(Glibc)
import Glibc
#endif

/// The journal line envelope: `{"seq":1,"ts":"…","type":"…","data":…}` + `\n`, keys in exactly this order,
/// with two optional keys between `type` and `data`: `"more":true` on every line of a batch but its last (the
/// batch is committed by the line without it), and `"idempotency":{…}` on a keyed batch's last line.
///
/// Writing and scanning live together so the two can never disagree. The scanner checks the fixed envelope
/// byte by byte and returns where `type` and `data` are; it never decodes JSON, which is what lets readers go
/// through a journal at memory speed and hand `data` on as a byte slice.
public enum EventLine {
    // The fixed parts of the envelope. StaticStrings, so writing and matching them is a memcpy/memcmp from
    // constant memory (a `static let` array would cost a lazy-initialization check and a retain per use).
    static let seqPrefix: StaticString = #"{"seq":"#
    static let tsPrefix: StaticString = #","ts":""#
    static let typePrefix: StaticString = #"","type":""#
    static let dataPrefix: StaticString = #"","data":"#
    static let typeEnd: StaticString = #"""#
    static let moreMarker: StaticString = #","more":true"#
    static let idempotencyPrefix: StaticString = #","idempotency":"#
    static let dataKey: StaticString = #","data":"#

    /// Appends one complete line (with its `\n`). `type` must be valid and `compactData` valid compact JSON.
    public static func append(
        seq: Int64, millis: Int64, type: EventType, compactData: some Collection<UInt8>,
        more: Bool = false, idempotency: IdempotencyRecord? = nil, to out: inout [UInt8]
    ) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Timestamp.byteCount) { timestamp in
            Timestamp.write(millis: millis, to: timestamp.baseAddress!)
            append(
                seq: seq, timestamp: UnsafeBufferPointer(timestamp), type: type, compactData: compactData,
                more: more, idempotency: idempotency, to: &out)
        }
    }

    /// Appends one line whose `ts` is already formatted (`Timestamp.byteCount` bytes): a batch shares one
    /// timestamp, so it is formatted once per batch instead of once per event.
    static func append(
        seq: Int64, timestamp: UnsafeBufferPointer<UInt8>, type: EventType, compactData: some Collection<UInt8>,
        more: Bool = false, idempotency: IdempotencyRecord? = nil, to out: inout [UInt8]
    ) {
        appendLiteral(seqPrefix, to: &out)
        appendDecimal(seq, to: &out)
        appendLiteral(tsPrefix, to: &out)
        out.append(contentsOf: timestamp)
        appendLiteral(typePrefix, to: &out)
        out.append(contentsOf: type.rawValue.utf8)
        if !more && idempotency == nil {
            appendLiteral(dataPrefix, to: &out)
        } else {
            appendLiteral(typeEnd, to: &out)
            if more { appendLiteral(moreMarker, to: &out) }
            if let idempotency {
                appendLiteral(idempotencyPrefix, to: &out)
                idempotency.appendJSON(to: &out)
            }
            appendLiteral(dataKey, to: &out)
        }
        out.append(contentsOf: compactData)
        out.append(UInt8(ascii: "}"))
        out.append(0x0A)
    }

    private static func appendLiteral(_ literal: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// `String(value).utf8` without building a String.
    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var remaining = UInt64(bitPattern: value)  // seqs are positive
            var start = 20
            repeat {
                start -= 1
                digits[start] = UInt8(truncatingIfNeeded: 0x30 + remaining % 10)
                remaining /= 10
            } while remaining > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    /// Where the fields of one scanned line are, as offsets relative to the start of the line.
    public struct Fields: Sendable, Equatable {
        public var seq: Int64
        public var timestampMillis: Int64
        public var type: Range<Int>
        public var data: Range<Int>
        /// `"more":true`: more lines of this line's batch follow; the batch is committed only by its last line.
        public var more: Bool = false
        /// Where the `idempotency` object is (a keyed batch's last line), if the line has one.
        public var idempotency: Range<Int>? = nil

        public init(seq: Int64, timestampMillis: Int64, type: Range<Int>, data: Range<Int>, more: Bool = false, idempotency: Range<Int>? = nil) {
            self.seq = seq
            self.timestampMillis = timestampMillis
            self.type = type
            self.data = data
            self.more = more
            self.idempotency = idempotency
        }
    }

    /// Scans one line (without its `\n`). Returns nil, with the reason in `failure`, when the envelope is not
    /// exactly the fixed form. `data` is *not* validated here (verify does that).
    public static func scan(_ line: UnsafeRawBufferPointer) -> Fields? {
        var failure = ""
        return scan(line, failure: &failure)
    }

    public static func scan(_ line: UnsafeRawBufferPointer, failure: inout String) -> Fields? {
        let count = line.count
        guard let base = line.baseAddress else { failure = "line does not start with {\"seq\":"; return nil }
        var index = 0

        func expect(_ literal: StaticString) -> Bool {
            let length = literal.utf8CodeUnitCount
            guard count - index >= length, memcmp(base + index, literal.utf8Start, length) == 0 else { return false }
            index += length
            return true
        }

        guard expect(seqPrefix) else { failure = "line does not start with {\"seq\":"; return nil }
        var seq: Int64 = 0
        let digitsStart = index
        while index < count, line[index] &- UInt8(ascii: "0") < 10 {
            let (product, overflowA) = seq.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = product.addingReportingOverflow(Int64(line[index] &- UInt8(ascii: "0")))
            guard !overflowA, !overflowB else { failure = "seq does not fit in 64 bits"; return nil }
            seq = sum
            index += 1
        }
        guard index > digitsStart, line[digitsStart] != UInt8(ascii: "0") || index - digitsStart == 1, seq > 0 else {
            failure = "seq is not a positive integer"; return nil
        }
        guard expect(tsPrefix) else { failure = "expected ,\"ts\":\" after seq"; return nil }
        guard count - index >= Timestamp.byteCount,
            let millis = Timestamp.parse(UnsafeRawBufferPointer(start: base + index, count: Timestamp.byteCount))
        else { failure = "ts is not YYYY-MM-DDTHH:MM:SS.mmmZ"; return nil }
        index += Timestamp.byteCount
        guard expect(typePrefix) else { failure = "expected \",\"type\":\" after ts"; return nil }
        let typeStart = index
        // A type is at most 64 bytes; look no further for its closing quote than that.
        let typeLimit = min(count, typeStart + 65)
        while index < typeLimit, line[index] != UInt8(ascii: "\"") { index += 1 }
        let typeRange = typeStart..<index
        guard EventType.isValid(UnsafeRawBufferPointer(start: base + typeStart, count: index - typeStart)) else {
            failure = "type is not a valid event type"; return nil
        }
        var more = false
        var idempotency: Range<Int>?
        if !expect(dataPrefix) {
            guard expect(typeEnd) else { failure = "expected \",\"data\": after type"; return nil }
            more = expect(moreMarker)
            if expect(idempotencyPrefix) {
                let start = index
                guard let end = IdempotencyRecord.scanEnd(UnsafeRawBufferPointer(rebasing: line[index...])) else {
                    failure = "idempotency is not {\"key\":…,\"request\":…,\"first_seq\":…}"; return nil
                }
                index += end
                idempotency = start..<index
            }
            guard more || idempotency != nil, expect(dataKey) else { failure = "expected \",\"data\": after type"; return nil }
        }
        guard count - index >= 2, line[count - 1] == UInt8(ascii: "}") else {
            failure = "line does not end with data and }"; return nil
        }
        return Fields(
            seq: seq, timestampMillis: millis, type: typeRange, data: index..<(count - 1), more: more,
            idempotency: idempotency)
    }
}
