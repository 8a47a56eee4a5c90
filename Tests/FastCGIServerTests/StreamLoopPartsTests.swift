import Testing
@testable import FastCGIServer

/// The stream loop's small parts: its deadline heap and the FastCGI records it writes itself.
@Suite struct StreamLoopPartsTests {
    @Test func theTimerHeapPopsDueEntriesEarliestFirstAndKeepsTheRest() {
        var heap = TimerHeap()
        var generator = SystemRandomNumberGenerator()
        let deadlines = (0..<500).map { _ in Int64.random(in: 0..<10_000, using: &generator) }
        for (key, deadline) in deadlines.enumerated() { heap.insert(deadline: deadline, key: UInt64(key)) }
        #expect(heap.nextDeadline == deadlines.min())
        var popped: [Int64] = []
        while let entry = heap.popDue(now: 5_000) { popped.append(entry.deadline) }
        #expect(popped == deadlines.filter { $0 <= 5_000 }.sorted())
        #expect(heap.count == deadlines.filter { $0 > 5_000 }.count)
        #expect(heap.nextDeadline == deadlines.filter { $0 > 5_000 }.min())
        #expect(heap.popDue(now: 5_000) == nil)
    }

    @Test func stdoutRecordsSplitAt65535BytesAndCarryTheRequestID() {
        let payload = (0..<150_000).map { UInt8(truncatingIfNeeded: $0) }
        var records: [UInt8] = []
        FastCGIRecords.appendStdout(payload, requestID: 0x0102, to: &records)
        var offset = 0
        var content: [UInt8] = []
        var lengths: [Int] = []
        while offset < records.count {
            let header = Array(records[offset..<(offset + 8)])
            #expect(header[0] == 1 && header[1] == 6 && header[2] == 1 && header[3] == 2 && header[6] == 0)
            let length = Int(header[4]) << 8 | Int(header[5])
            lengths.append(length)
            content += records[(offset + 8)..<(offset + 8 + length)]
            offset += 8 + length
        }
        #expect(lengths == [65535, 65535, 150_000 - 2 * 65535])
        #expect(content == payload)
        var none: [UInt8] = []
        FastCGIRecords.appendStdout([], requestID: 1, to: &none)
        #expect(none.isEmpty, "an empty STDOUT record would end the response's stdout")
    }

    @Test func theEndOfAResponseIsAnEmptyStdoutThenEndRequestComplete() {
        let end = FastCGIRecords.endOfResponse(requestID: 7)
        #expect(end == [1, 6, 0, 7, 0, 0, 0, 0, 1, 3, 0, 7, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// A client that stays a little behind for good (it reads, but new bytes come before it has everything):
    /// the backlog never empties. What it holds must follow what is pending, not everything ever sent.
    @Test func aBacklogThatNeverEmptiesHoldsAboutWhatIsPendingNotEverythingSent() {
        var backlog = SendBacklog()
        let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
        for _ in 0..<4 { backlog.append(chunk) }
        for round in 0..<200 {
            backlog.sent(chunk.count)
            backlog.append(chunk)
            #expect(backlog.pending == 4 * chunk.count)
            #expect(backlog.heldBytes <= 2 * backlog.pending + chunk.count, "round \(round): \(backlog.heldBytes) bytes held")
            if backlog.heldBytes > 2 * backlog.pending + chunk.count { break }
        }
        // What is pending is still the bytes in order, whatever was dropped before them.
        backlog.sent(backlog.pending - 3)
        backlog.append([1, 2, 3])
        #expect(backlog.withPendingBytes { Array($0) } == [0x61, 0x61, 0x61, 1, 2, 3])
        backlog.sent(6)
        backlog.releaseDelivered()
        #expect(backlog.heldBytes == 0 && backlog.pending == 0)
    }
}
