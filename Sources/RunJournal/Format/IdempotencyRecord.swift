import Crypto

/// What a keyed append leaves in the journal so a retry can be recognised: the client's `Idempotency-Key`,
/// a fingerprint of the request (SHA-256 of its body) and the batch's first seq.
///
/// It is written on the batch's last line, the one that commits the batch, so a crash can never separate an
/// event from its key: the batch and its key are both there or both absent. Every key a run has seen is
/// rebuilt from the journal when the store opens it, so keys survive restarts, crashes and other processes.
///
/// On disk: `"idempotency":{"key":"<key, JSON-escaped>","request":"<64 hex>","first_seq":N}`, between `type`
/// and `data`, always in this exact form (so a byte scanner can skip it).
public struct IdempotencyRecord: Sendable, Equatable {
    /// The client's key: 1–128 printable ASCII characters (space to `~`).
    public let key: String
    /// Lowercase hex SHA-256 of the request body (64 characters).
    public let request: String
    /// The first seq of the batch this record commits (the last seq is the line's own).
    public var firstSeq: Int64

    public static let maxKeyLength = 128

    /// Validates `key` and fingerprints `body`. Throws `invalidIdempotencyKey` for a key that is empty, longer
    /// than 128 characters, or has a byte outside printable ASCII.
    public init(key: String, body: some Collection<UInt8>) throws {
        try self.init(key: key, request: Self.fingerprint(body), firstSeq: 0)
    }

    init(key: String, request: String, firstSeq: Int64) throws {
        guard Self.isValidKey(key) else { throw JournalError.invalidIdempotencyKey(key) }
        self.key = key
        self.request = request
        self.firstSeq = firstSeq
    }

    public static func isValidKey(_ key: String) -> Bool {
        let bytes = key.utf8
        return !bytes.isEmpty && bytes.count <= maxKeyLength && bytes.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }

    /// Lowercase hex SHA-256 of `body`.
    public static func fingerprint(_ body: some Collection<UInt8>) -> String {
        let digest = SHA256.hash(data: Array(body))
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `other` (the record a retry would write) is the same request as this one.
    public func sameRequest(as other: IdempotencyRecord) -> Bool { key == other.key && request == other.request }

    // MARK: Encoding

    private static let keyPrefix: StaticString = #"{"key":""#
    private static let requestPrefix: StaticString = #"","request":""#
    private static let firstSeqPrefix: StaticString = #"","first_seq":"#

    func appendJSON(to out: inout [UInt8]) {
        append(Self.keyPrefix, to: &out)
        for byte in key.utf8 {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            out.append(byte)
        }
        append(Self.requestPrefix, to: &out)
        out.append(contentsOf: request.utf8)
        append(Self.firstSeqPrefix, to: &out)
        EventLine.appendDecimal(firstSeq, to: &out)
        out.append(UInt8(ascii: "}"))
    }

    private func append(_ literal: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// The length of the record object at the start of `bytes`, when it has exactly the written form.
    static func scanEnd(_ bytes: UnsafeRawBufferPointer) -> Int? {
        parse(bytes).map(\.length)
    }

    /// Parses the record object at the start of `bytes` (a line's `Fields.idempotency` range).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> IdempotencyRecord? {
        parse(bytes)?.record
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer) -> (record: IdempotencyRecord, length: Int)? {
        var index = 0
        func expect(_ literal: StaticString) -> Bool {
            let length = literal.utf8CodeUnitCount
            guard bytes.count - index >= length else { return false }
            for offset in 0..<length where bytes[index + offset] != literal.utf8Start[offset] { return false }
            index += length
            return true
        }
        guard expect(keyPrefix) else { return nil }
        var key = [UInt8]()
        while true {
            guard index < bytes.count, key.count <= maxKeyLength else { return nil }
            var byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard index < bytes.count else { return nil }
                byte = bytes[index]
                guard byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { return nil }
            } else if byte < 0x20 || byte > 0x7E {
                return nil
            }
            key.append(byte)
            index += 1
        }
        guard expect(requestPrefix), bytes.count - index >= 64 else { return nil }
        var request = [UInt8]()
        for offset in 0..<64 {
            let byte = bytes[index + offset]
            guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) else { return nil }
            request.append(byte)
        }
        index += 64
        guard expect(firstSeqPrefix) else { return nil }
        var firstSeq: Int64 = 0
        let digitsStart = index
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39, index - digitsStart < 18 {
            firstSeq = firstSeq * 10 + Int64(bytes[index] - 0x30)
            index += 1
        }
        // Digits as the writer spells them: no leading zero.
        guard index > digitsStart, firstSeq > 0, bytes[digitsStart] != 0x30, index < bytes.count, bytes[index] == UInt8(ascii: "}")
        else { return nil }
        index += 1
        guard let record = try? IdempotencyRecord(
            key: String(decoding: key, as: UTF8.self), request: String(decoding: request, as: UTF8.self), firstSeq: firstSeq)
        else { return nil }
        return (record, index)
    }
}
