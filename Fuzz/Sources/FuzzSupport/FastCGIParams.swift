/// FastCGI name-value pairs (the body of FCGI_PARAMS records, FastCGI spec §3.4): each length is one byte
/// below 128, else four bytes big-endian with the top bit set; then the name, then the value.
public enum FastCGIParams {
    /// The pairs encoded in `bytes`, in order; decoding stops at the first pair that does not fit.
    public static func decode(_ bytes: [UInt8]) -> [(name: [UInt8], value: [UInt8])] {
        var pairs: [(name: [UInt8], value: [UInt8])] = []
        var index = 0
        func length() -> Int? {
            guard index < bytes.count else { return nil }
            if bytes[index] < 0x80 {
                index += 1
                return Int(bytes[index - 1])
            }
            guard bytes.count - index >= 4 else { return nil }
            let value = Int(bytes[index] & 0x7F) << 24 | Int(bytes[index + 1]) << 16 | Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
            index += 4
            return value
        }
        while let nameLength = length(), let valueLength = length(), bytes.count - index >= nameLength + valueLength {
            let name = Array(bytes[index..<(index + nameLength)])
            let value = Array(bytes[(index + nameLength)..<(index + nameLength + valueLength)])
            index += nameLength + valueLength
            pairs.append((name, value))
        }
        return pairs
    }

    /// The encoding of `pairs` (for seeds and round trips).
    public static func encode(_ pairs: [(name: [UInt8], value: [UInt8])]) -> [UInt8] {
        var bytes: [UInt8] = []
        func length(_ count: Int) {
            if count < 0x80 {
                bytes.append(UInt8(count))
            } else {
                bytes += [UInt8(0x80 | count >> 24 & 0x7F), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
            }
        }
        for pair in pairs {
            length(pair.name.count)
            length(pair.value.count)
            bytes += pair.name + pair.value
        }
        return bytes
    }

    /// The environment entries libfcgi builds from the pairs: `name=value`, read back as C strings, so a
    /// NUL anywhere ends the entry there.
    public static func environment(_ pairs: [(name: [UInt8], value: [UInt8])]) -> [[UInt8]] {
        pairs.map { pair in
            let entry = pair.name + [UInt8(ascii: "=")] + pair.value
            return Array(entry.prefix { $0 != 0 })
        }
    }
}
