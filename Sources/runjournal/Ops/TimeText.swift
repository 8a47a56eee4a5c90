import RunJournal

#if canImport(Glibc)
import Glibc
#endif

/// Parsing and printing of the times and sizes the ops tools take and show, in the forms journalctl and
/// `find -mtime` users type: `90s`, `30m`, `2h`, `7d`, `1h30m`, `today`, `2026-11-25`, RFC 3339.
enum TimeText {
    static let millisPerDay: Int64 = 86_400_000

    /// A duration: one or more `<integer><unit>` with unit `ms`, `s`, `m`, `h`, `d` or `w` (`90s`, `1h30m`).
    static func parseDuration(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return nil }
        var total: Int64 = 0
        var index = 0
        while index < bytes.count {
            var value: Int64 = 0
            let digitsStart = index
            while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 {
                let (product, overflow) = value.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                value = product + Int64(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            guard index > digitsStart, index < bytes.count else { return nil }
            let unit: Int64
            if bytes[index] == UInt8(ascii: "m"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "s") {
                unit = 1
                index += 2
            } else {
                switch bytes[index] {
                case UInt8(ascii: "s"): unit = 1000
                case UInt8(ascii: "m"): unit = 60_000
                case UInt8(ascii: "h"): unit = 3_600_000
                case UInt8(ascii: "d"): unit = millisPerDay
                case UInt8(ascii: "w"): unit = 7 * millisPerDay
                default: return nil
                }
                index += 1
            }
            let (part, overflowA) = value.multipliedReportingOverflow(by: unit)
            let (sum, overflowB) = total.addingReportingOverflow(part)
            guard !overflowA, !overflowB else { return nil }
            total = sum
        }
        return total
    }

    /// A point in time: a duration ago (`2h`), `today` / `yesterday` (UTC midnight), a date (`2026-11-25`,
    /// UTC midnight) or an RFC 3339 time (`2026-11-25T10:00:00Z`, `2026-11-25 10:00:00+02:00`, no zone = UTC).
    static func parseInstant(_ text: String, now: Int64) -> Int64? {
        switch text {
        case "now": return now
        case "today": return now - now % millisPerDay
        case "yesterday": return now - now % millisPerDay - millisPerDay
        default: break
        }
        if let duration = parseDuration(text) { return now - duration }
        return parseDate(text)
    }

    /// `YYYY-MM-DD`, optionally followed by `T` or a space, `HH:MM[:SS[.fff…]]` and `Z` or `±HH:MM`.
    static func parseDate(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int64? {
            guard start + count <= b.count else { return nil }
            var value: Int64 = 0
            for index in start..<(start + count) {
                let digit = b[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
            }
            return value
        }
        guard b.count >= 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
            let year = number(0, 4), let month = number(5, 2), let day = number(8, 2)
        else { return nil }
        var hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0, millis: Int64 = 0, zoneOffset: Int64 = 0
        var index = 10
        if index < b.count {
            guard b[index] == UInt8(ascii: "T") || b[index] == UInt8(ascii: " "),
                let h = number(index + 1, 2), index + 3 < b.count, b[index + 3] == UInt8(ascii: ":"),
                let m = number(index + 4, 2)
            else { return nil }
            hour = h
            minute = m
            index += 6
            if index < b.count, b[index] == UInt8(ascii: ":") {
                guard let s = number(index + 1, 2) else { return nil }
                second = s
                index += 3
                if index < b.count, b[index] == UInt8(ascii: ".") {
                    index += 1
                    var scale: Int64 = 100
                    let fractionStart = index
                    while index < b.count, b[index] &- UInt8(ascii: "0") < 10 {
                        millis += Int64(b[index] - UInt8(ascii: "0")) * scale
                        scale /= 10
                        index += 1
                    }
                    guard index > fractionStart else { return nil }
                }
            }
            if index < b.count {
                if b[index] == UInt8(ascii: "Z") || b[index] == UInt8(ascii: "z") {
                    index += 1
                } else if b[index] == UInt8(ascii: "+") || b[index] == UInt8(ascii: "-") {
                    guard let zh = number(index + 1, 2), index + 3 < b.count, b[index + 3] == UInt8(ascii: ":"),
                        let zm = number(index + 4, 2), zh < 24, zm < 60
                    else { return nil }
                    zoneOffset = (zh * 60 + zm) * 60_000 * (b[index] == UInt8(ascii: "+") ? 1 : -1)
                    index += 6
                } else {
                    return nil
                }
            }
            guard index == b.count, hour < 24, minute < 60, second < 60 else { return nil }
        }
        // Validate the calendar date by round-tripping through the journal's own timestamp form.
        let canonical = String(format4(year)) + "-" + format2(month) + "-" + format2(day) + "T00:00:00.000Z"
        guard let midnight = Timestamp.parse(Array(canonical.utf8)) else { return nil }
        return midnight + ((hour * 60 + minute) * 60 + second) * 1000 + millis - zoneOffset
    }

    private static func format2(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
    private static func format4(_ value: Int64) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, 4 - text.count)) + text
    }

    /// `2026-11-25 08:00:00` (UTC, the journal's zone).
    static func dateTime(_ millis: Int64) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(Timestamp.byteCount)
        Timestamp.append(millis: millis, to: &text)
        text[10] = UInt8(ascii: " ")
        return String(decoding: text[0..<19], as: UTF8.self)
    }

    /// A coarse age: `45s`, `12m`, `5h`, `3d` (floored, one unit; negative ages — clock skew — show as `0s`).
    static func age(_ millis: Int64) -> String {
        let seconds = max(0, millis) / 1000
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" }
        if seconds < 48 * 3600 { return "\(seconds / 3600)h" }
        return "\(seconds / 86_400)d"
    }

    /// `512 B`, `12.3 KiB`, `4.0 MiB`, `1.2 GiB`.
    static func bytes(_ count: Int64) -> String {
        if count < 1024 { return "\(count) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(count) / 1024
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int64((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}

/// "Now" for ages, `--since` and `--older-than`: the real clock, or `RUNJOURNAL_NOW` (any `--since` form)
/// so documentation examples and tests print the same ages on every run.
enum OpsClock {
    static func nowMillis() throws -> Int64 {
        let real = SystemClock().nowMillis()
        guard let raw = getenv("RUNJOURNAL_NOW"), raw.pointee != 0 else { return real }
        let text = String(cString: raw)
        guard let pinned = TimeText.parseDate(text) ?? Int64(text) else {
            throw CLIFailure.usage("RUNJOURNAL_NOW must be an RFC 3339 time or epoch milliseconds (got \(text))")
        }
        return pinned
    }
}
