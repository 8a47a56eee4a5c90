import Testing

@testable import RunsAPI

/// `EventID`: the `<seq>.<incarnation>` ids of the event stream and the resume points clients send back.
@Suite("Event ids")
struct EventIDTests {
    @Test("the incarnation is the run.created ts in lowercase base 36")
    func incarnationIsBase36OfCreatedAt() {
        #expect(String(decoding: EventID.incarnation(createdAtMillis: 1_800_000_000_000), as: UTF8.self) == "mywpiww0")
        #expect(String(decoding: EventID.incarnation(createdAtMillis: 0), as: UTF8.self) == "0")
        #expect(String(decoding: EventID.incarnation(createdAtMillis: 35), as: UTF8.self) == "z")
        #expect(String(decoding: EventID.incarnation(createdAtMillis: 36), as: UTF8.self) == "10")
        #expect(EventID.incarnation(createdAtMillis: Int64.max).count == 13)
        #expect(EventID.text(seq: 42, incarnation: Array("mywpiww0".utf8)) == "42.mywpiww0")
    }

    @Test("parsing: a plain seq (legacy clients) or seq.incarnation; what belongs to another incarnation resumes from 0")
    func parsesBothForms() throws {
        let legacy = try #require(EventID.parse("17"))
        #expect(legacy == EventID.ResumePoint(seq: 17, incarnation: nil))
        #expect(legacy.seq(in: Array("mywpiww0".utf8)) == 17)
        let full = try #require(EventID.parse("17.mywpiww0"))
        #expect(full.seq(in: Array("mywpiww0".utf8)) == 17)
        #expect(full.seq(in: Array("mywpiww1".utf8)) == 0)
        #expect(EventID.parse("18446744073709551615.z")?.seq == Int64.max)
        for invalid in ["", "a", "1.", ".1", "1.A", "1..2", "1.2.3", "-1.a", "1.abcdefghijklmn"] {
            #expect(EventID.parse(Substring(invalid)) == nil, "\(invalid)")
        }
    }
}
