import Testing
@testable import JournalTailer

@Suite("The bounded window of published bytes")
struct ByteWindowTests {
    @Test("keeps only the newest capacity bytes and moves its start with them")
    func boundedToCapacity() {
        var window = ByteWindow(capacity: 8, at: 100)
        window.append(Array("abc\n".utf8))
        #expect(window.start == 100 && window.end == 104)
        window.append(Array("defgh\n".utf8))
        #expect(window.end == 110)
        #expect(window.start == 102)
        #expect(window.completeLines(from: 104, maxBytes: 100) == Array("defgh\n".utf8))
        for _ in 0..<50 { window.append(Array("xy\n".utf8)) }
        #expect(window.count == 8)
        #expect(window.end == 260)
    }

    @Test("truncation forgets bytes at and after the new end")
    func truncation() {
        var window = ByteWindow(capacity: 64, at: 0)
        window.append(Array("a\nb\nc\n".utf8))
        window.truncate(to: 4)
        #expect(window.end == 4)
        #expect(window.completeLines(from: 0, maxBytes: 64) == Array("a\nb\n".utf8))
        window.truncate(to: 0)
        #expect(window.start == 0 && window.end == 0)
    }

    @Test("line cuts keep whole lines within maxBytes, or one longer line whole")
    func lineCuts() {
        let bytes = Array("ab\ncdef\ng".utf8)
        #expect(lineCut(in: bytes[...], maxBytes: 100) == 8)
        #expect(lineCut(in: bytes[...], maxBytes: 5) == 3)
        #expect(lineCut(in: bytes[3...], maxBytes: 2) == 8)
        #expect(lineCut(in: bytes[8...], maxBytes: 100) == nil)
    }
}
