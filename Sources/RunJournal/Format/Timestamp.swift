/// Journal timestamps: UTC RFC 3339 with exactly three fractional digits (`2026-11-25T01:02:03.456Z`).
///
/// A fixed 24-byte form, so the line scanner finds the end of `ts` without searching, `sort` on the text
/// orders by time, and formatting costs no calendar library.
public enum Timestamp {
    public static let byteCount = 24

    /// Formats `millis` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func format(millis: Int64) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: byteCount) { buffer in
            write(millis: millis, to: buffer.baseAddress!)
            return String(decoding: buffer, as: UTF8.self)
        }
    }

    /// The last instant the fixed form can express: 9999-12-31T23:59:59.999Z.
    public static let maxMillis: Int64 = 253_402_300_799_999

    /// Appends the formatted time. Out-of-range times are clamped to the epoch or to `maxMillis`: a
    /// five-digit year would not fit the 24-byte form (the year used to be cut to four digits, writing a
    /// wrong date that parses).
    public static func append(millis: Int64, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: byteCount) { buffer in
            write(millis: millis, to: buffer.baseAddress!)
            out.append(contentsOf: buffer)
        }
    }

    /// Writes exactly `byteCount` bytes at `out`. Formatting into a fixed buffer and appending it in one go
    /// keeps per-byte array appends (and their uniqueness checks) off the append path.
    static func write(millis: Int64, to out: UnsafeMutablePointer<UInt8>) {
        let clamped = min(max(0, millis), maxMillis)
        let days = clamped / 86_400_000
        let msOfDay = Int(clamped % 86_400_000)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        func two(_ value: Int, at index: Int) {
            out[index] = UInt8(truncatingIfNeeded: 0x30 + value / 10)
            out[index + 1] = UInt8(truncatingIfNeeded: 0x30 + value % 10)
        }
        let yearValue = Int(year)
        two(yearValue / 100, at: 0)
        two(yearValue % 100, at: 2)
        out[4] = UInt8(ascii: "-")
        two(Int(month), at: 5)
        out[7] = UInt8(ascii: "-")
        two(Int(day), at: 8)
        out[10] = UInt8(ascii: "T")
        two(msOfDay / 3_600_000, at: 11)
        out[13] = UInt8(ascii: ":")
        two(msOfDay / 60_000 % 60, at: 14)
        out[16] = UInt8(ascii: ":")
        two(msOfDay / 1000 % 60, at: 17)
        out[19] = UInt8(ascii: ".")
        out[20] = UInt8(truncatingIfNeeded: 0x30 + msOfDay % 1000 / 100)
        two(msOfDay % 100, at: 21)
        out[23] = UInt8(ascii: "Z")
    }

    /// Parses the fixed form; nil for anything else (including a valid RFC 3339 time in another form).
    public static func parse<Bytes: Collection>(_ bytes: Bytes) -> Int64? where Bytes.Element == UInt8 {
        guard bytes.count == byteCount else { return nil }
        if let parsed = bytes.withContiguousStorageIfAvailable({ parse(UnsafeRawBufferPointer($0)) }) { return parsed }
        return Array(bytes).withUnsafeBytes { parse($0) }
    }

    /// Parses the fixed form from raw bytes: the reader's per-line path, so it allocates nothing.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard bytes.count == byteCount else { return nil }
        var valid = true
        func number(_ start: Int, _ count: Int) -> Int64 {
            var value: Int64 = 0
            for index in start..<(start + count) {
                let digit = bytes[index] &- UInt8(ascii: "0")
                if digit >= 10 { valid = false }
                value = value &* 10 &+ Int64(digit)
            }
            return value
        }
        let year = number(0, 4), month = number(5, 2), day = number(8, 2)
        let hour = number(11, 2), minute = number(14, 2), second = number(17, 2), millis = number(20, 3)
        guard valid, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "."),
            bytes[23] == UInt8(ascii: "Z"),
            (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
    }

    private static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).
    static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilDate(daysSinceEpoch days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
