import Testing
import SystemSupport

@Suite("LineFeedScan")
struct LineFeedScanTests {
    private func last(_ text: String, before end: Int? = nil) -> Int? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { LineFeedScan.lastLineFeed(in: $0, before: end ?? bytes.count) }
    }

    @Test("finds the last line feed, searching backwards from the end")
    func findsTheLastLineFeed() {
        #expect(last("a\nbc\nd") == 4)
        #expect(last("a\nbc\n") == 4)
        #expect(last("\n") == 0)
    }

    @Test("looks only before the given end")
    func looksOnlyBeforeTheEnd() {
        #expect(last("a\nbc\nd", before: 4) == 1)
        #expect(last("a\nbc\nd", before: 5) == 4)
        #expect(last("a\nbc\nd", before: 1) == nil)
        #expect(last("\n", before: 0) == nil)
    }

    @Test("nil without a line feed, and for no bytes")
    func nilWithoutALineFeed() {
        #expect(last("no newline") == nil)
        #expect(last("") == nil)
        #expect(LineFeedScan.lastLineFeed(in: UnsafeRawBufferPointer(start: nil, count: 0)) == nil)
    }

    @Test("an array slice answers in the slice's own indices")
    func sliceIndices() {
        let bytes = Array("xx\nab\ncd".utf8)
        #expect(LineFeedScan.lastLineFeed(in: bytes[3...]) == 5)
        #expect(LineFeedScan.lastLineFeed(in: bytes[3..<5]) == nil)
        #expect(LineFeedScan.lastLineFeed(in: bytes[..<5]) == 2)
        #expect(LineFeedScan.lastLineFeed(in: bytes) == 5)
    }

    @Test("agrees with a plain backwards search on every prefix of a long buffer")
    func agreesWithAPlainSearch() {
        var bytes = [UInt8]()
        for index in 0..<3000 { bytes.append(index % 97 == 0 || index % 13 == 5 ? 0x0A : UInt8(65 + index % 26)) }
        bytes.withUnsafeBytes { raw in
            for end in 0...bytes.count {
                #expect(LineFeedScan.lastLineFeed(in: raw, before: end) == bytes[..<end].lastIndex(of: 0x0A))
            }
        }
    }
}
