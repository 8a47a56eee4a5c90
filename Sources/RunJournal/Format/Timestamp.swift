/// Journal timestamps: UTC RFC 3339 with exactly three fractional digits (`2026-11-25T01:02:03.456Z`).
///
/// A fixed 24-byte form, so the line scanner finds the end of `ts` without searching, `sort` on the text
/// orders by time, and formatting costs no calendar library.
public enum Timestamp {
    public static let byteCount = 24

    /// Formats `millis` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func format(millis: Int64) -> String {
        var out = [UInt8]()
        out.reserveCapacity(byteCount)
        append(millis: millis, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The last instant the fixed form can express: 9999-12-31T23:59:59.999Z.
    public static let maxMillis: Int64 = 253_402_300_799_999

    /// Appends the formatted time. Out-of-range times are clamped to the epoch or to `maxMillis`: a
    /// five-digit year would not fit the 24-byte form (the year used to be cut to four digits, writing a
    /// wrong date that parses).
    public static func append(millis: Int64, to out: inout [UInt8]) {
        let clamped = min(max(0, millis), maxMillis)
        let days = clamped / 86_400_000
        let msOfDay = clamped % 86_400_000
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        appendDigits(year, width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(month, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(day, width: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        appendDigits(msOfDay / 3_600_000, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(msOfDay / 60_000 % 60, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(msOfDay / 1000 % 60, width: 2, to: &out)
        out.append(UInt8(ascii: "."))
        appendDigits(msOfDay % 1000, width: 3, to: &out)
        out.append(UInt8(ascii: "Z"))
    }

    /// Parses the fixed form; nil for anything else (including a valid RFC 3339 time in another form).
    public static func parse<Bytes: Collection>(_ bytes: Bytes) -> Int64? where Bytes.Element == UInt8 {
        guard bytes.count == byteCount else { return nil }
        let b = Array(bytes)
        func number(_ start: Int, _ count: Int) -> Int64? {
            var value: Int64 = 0
            for index in start..<(start + count) {
                let digit = b[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
            }
            return value
        }
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."),
            b[23] == UInt8(ascii: "Z"),
            let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
            let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
            let millis = number(20, 3),
            (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
    }

    private static func appendDigits(_ value: Int64, width: Int, to out: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var remaining = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(remaining / divisor % 10))
            remaining %= divisor
            divisor /= 10
        }
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
