/// The journal line envelope: `{"seq":1,"ts":"…","type":"…","data":…}` + `\n`, keys in exactly this order.
///
/// Writing and scanning live together so the two can never disagree. The scanner checks the fixed envelope
/// byte by byte and returns where `type` and `data` are; it never decodes JSON, which is what lets readers go
/// through a journal at memory speed and hand `data` on as a byte slice.
public enum EventLine {
    static let seqPrefix = Array(#"{"seq":"#.utf8)
    static let tsPrefix = Array(#","ts":""#.utf8)
    static let typePrefix = Array(#"","type":""#.utf8)
    static let dataPrefix = Array(#"","data":"#.utf8)

    /// Appends one complete line (with its `\n`). `type` must be valid and `compactData` valid compact JSON.
    public static func append(
        seq: Int64, millis: Int64, type: EventType, compactData: some Collection<UInt8>, to out: inout [UInt8]
    ) {
        out.append(contentsOf: seqPrefix)
        out.append(contentsOf: String(seq).utf8)
        out.append(contentsOf: tsPrefix)
        Timestamp.append(millis: millis, to: &out)
        out.append(contentsOf: typePrefix)
        out.append(contentsOf: type.rawValue.utf8)
        out.append(contentsOf: dataPrefix)
        out.append(contentsOf: compactData)
        out.append(UInt8(ascii: "}"))
        out.append(0x0A)
    }

    /// Where the fields of one scanned line are, as offsets relative to the start of the line.
    public struct Fields: Sendable, Equatable {
        public var seq: Int64
        public var timestampMillis: Int64
        public var type: Range<Int>
        public var data: Range<Int>
    }

    /// Scans one line (without its `\n`). Returns nil, with the reason in `failure`, when the envelope is not
    /// exactly the fixed form. `data` is *not* validated here (verify does that).
    public static func scan(_ line: UnsafeRawBufferPointer) -> Fields? {
        var failure = ""
        return scan(line, failure: &failure)
    }

    public static func scan(_ line: UnsafeRawBufferPointer, failure: inout String) -> Fields? {
        let count = line.count
        var index = 0

        func expect(_ literal: [UInt8]) -> Bool {
            guard count - index >= literal.count else { return false }
            for byte in literal {
                if line[index] != byte { return false }
                index += 1
            }
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
            let millis = Timestamp.parse(UnsafeRawBufferPointer(rebasing: line[index..<(index + Timestamp.byteCount)]))
        else { failure = "ts is not YYYY-MM-DDTHH:MM:SS.mmmZ"; return nil }
        index += Timestamp.byteCount
        guard expect(typePrefix) else { failure = "expected \",\"type\":\" after ts"; return nil }
        let typeStart = index
        while index < count, line[index] != UInt8(ascii: "\"") { index += 1 }
        let typeRange = typeStart..<index
        guard EventType.isValid(UnsafeRawBufferPointer(rebasing: line[typeRange])) else {
            failure = "type is not a valid event type"; return nil
        }
        guard expect(dataPrefix) else { failure = "expected \",\"data\": after type"; return nil }
        guard count - index >= 2, line[count - 1] == UInt8(ascii: "}") else {
            failure = "line does not end with data and }"; return nil
        }
        return Fields(seq: seq, timestampMillis: millis, type: typeRange, data: index..<(count - 1))
    }
}
