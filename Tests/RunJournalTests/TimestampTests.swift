import Testing

@testable import RunJournal

@Suite("Timestamp")
struct TimestampTests {
    @Test(
        "formats UTC with exactly three fractional digits",
        arguments: [
            (0, "1970-01-01T00:00:00.000Z"),
            (1, "1970-01-01T00:00:00.001Z"),
            (999, "1970-01-01T00:00:00.999Z"),
            (1_795_568_523_456, "2026-11-25T01:02:03.456Z"),
            (951_825_600_000, "2000-02-29T12:00:00.000Z"),  // leap day of a year divisible by 400
            (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),  // last ms of a leap day
            (1_709_251_200_000, "2024-03-01T00:00:00.000Z"),
            (4_107_542_399_999, "2100-02-28T23:59:59.999Z"),  // 2100 is not a leap year…
            (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),  // …so March follows Feb 28
            (2_147_483_648_000, "2038-01-19T03:14:08.000Z"),  // past the 32-bit time_t limit
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ] as [(Int64, String)])
    func formats(millis: Int64, text: String) {
        #expect(Timestamp.format(millis: millis) == text)
        #expect(Timestamp.parse(Array(text.utf8)) == millis)
    }

    @Test("clamps times the fixed form cannot express instead of writing a wrong date")
    func clampsOutOfRange() {
        #expect(Timestamp.format(millis: -1) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(millis: 253_402_300_800_000) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp.format(millis: .max) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp.format(millis: .max).utf8.count == Timestamp.byteCount)
    }

    @Test("format and parse round-trip every day from 1970 to 2400 and assorted milliseconds")
    func roundTrip() {
        var day: Int64 = 0
        let lastDay = Timestamp.daysSinceEpoch(year: 2400, month: 12, day: 31)
        while day <= lastDay {
            // A different time of day for each date, so hours, minutes, seconds and ms all vary.
            let millis = day * 86_400_000 + (day &* 7_919_113) % 86_400_000
            let text = Timestamp.format(millis: millis)
            #expect(text.utf8.count == Timestamp.byteCount)
            guard Timestamp.parse(Array(text.utf8)) == millis else {
                Issue.record("round trip failed for \(millis): \(text)")
                return
            }
            day += 1
        }
    }

    @Test("formatted text sorts in time order")
    func sortsAsText() {
        let times: [Int64] = [0, 9, 10, 999, 1000, 59_999, 60_000, 86_399_999, 86_400_000, 951_825_600_000, 1_795_568_523_456]
        let texts = times.map { Timestamp.format(millis: $0) }
        #expect(texts == texts.sorted())
    }

    @Test(
        "parse refuses anything but the fixed form",
        arguments: [
            "2023-02-29T00:00:00.000Z",  // not a leap year
            "2100-02-29T00:00:00.000Z",  // century, not divisible by 400
            "2024-04-31T00:00:00.000Z",
            "2024-00-10T00:00:00.000Z",
            "2024-13-10T00:00:00.000Z",
            "2024-01-00T00:00:00.000Z",
            "2024-01-32T00:00:00.000Z",
            "2024-01-01T24:00:00.000Z",
            "2024-01-01T00:60:00.000Z",
            "2024-12-31T23:59:60.000Z",  // leap seconds are not representable in journal time
            "2024-01-01t00:00:00.000Z",
            "2024-01-01T00:00:00.000z",
            "2024-01-01 00:00:00.000Z",
            "2024-01-01T00:00:00,000Z",
            "2024-01-01T00:00:00.00Z",
            "2024-01-01T00:00:00.0000Z",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.000+00:00",
            "2024-01-01T00:00:00.000",
            "+024-01-01T00:00:00.000Z",
            "2024-1-01T00:00:00.000Z ",
            "2024-01-01T00:00:0a.000Z",
            "",
        ])
    func parseRejects(text: String) {
        #expect(Timestamp.parse(Array(text.utf8)) == nil)
    }
}
