import Foundation
import Testing
@testable import JournalTailer

@Suite("Fan-out to many subscribers")
struct FanOutTests {
    @Test("1,000 subscribers receive every byte in order while the file is read once per change")
    func thousandSubscribersOneReader() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "{\"seq\":0}\n")
        let tailer = JournalTailer(logger: testLogger)
        let followers = try (0..<1000).map { _ in try Follower(tailer, path, from: 10) }
        #expect(tailer.statistics.followedJournals == 1)
        #expect(tailer.statistics.sharedReads == 0)

        var expected = ""
        let changes = 20
        for seq in 1...changes {
            let line = "{\"seq\":\(seq)}\n"
            expected += line
            try Disk.append(path, line)
            // One change at a time, so "once per change" is what is counted.
            let end = try Disk.size(path)
            try await eventually("change \(seq) to be published") {
                tailer.statistics(forPath: path)?.publishedEnd == end
            }
        }
        for follower in followers {
            try follower.drain()
            #expect(follower.text == expected)
            #expect(follower.wakeCount >= 1)
        }
        let statistics = tailer.statistics
        #expect(statistics.sharedReads <= changes)
        #expect(statistics.catchUpReads == 0)
        for follower in followers { follower.subscription.cancel() }
        #expect(tailer.statistics.followedJournals == 0)
    }

    @Test("a slow subscriber behind the window catches up from the file without holding others back")
    func slowSubscriberCatchesUpFromFile() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("run.jsonl")
        try Disk.write(path, "")
        let tailer = JournalTailer(windowBytes: 64, logger: testLogger)
        let fast = try Follower(tailer, path, from: 0)
        let slow = try Follower(tailer, path, from: 0)

        var expected = ""
        for seq in 0..<30 {
            let line = "{\"seq\":\(seq),\"pad\":\"xxxx\"}\n"
            expected += line
            try Disk.append(path, line)
            try await fast.waitFor(expected)
        }
        #expect(tailer.statistics.catchUpReads == 0)
        #expect(try #require(tailer.statistics(forPath: path)).windowStart > 0)

        try slow.drain(maxBytes: 100)
        #expect(slow.text == expected)
        #expect(tailer.statistics.catchUpReads >= 1)
    }

    @Test("only the subscribers of the journal that changed are woken, and only its file is read")
    func onlyChangedJournalWakes() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let busy = dir.file("busy.jsonl")
        let quiet = dir.file("quiet.jsonl")
        try Disk.write(busy, "")
        try Disk.write(quiet, "")
        let tailer = JournalTailer(logger: testLogger)
        let busyFollowers = try (0..<5).map { _ in try Follower(tailer, busy, from: 0) }
        let quietFollowers = try (0..<5).map { _ in try Follower(tailer, quiet, from: 0) }
        for seq in 0..<10 {
            try Disk.append(busy, "{\"seq\":\(seq)}\n")
        }
        for follower in busyFollowers { try await eventually("a wake") { follower.wakeCount >= 1 } }
        #expect(quietFollowers.allSatisfy { $0.wakeCount == 0 })
        #expect(tailer.statistics(forPath: quiet)?.sharedReads == 0)
        #expect(try #require(tailer.statistics(forPath: busy)).sharedReads >= 1)
    }

    @Test("100 idle subscribers cause no file reads", arguments: bothModes)
    func idleSubscribersCostNoReads(mode: TailerMode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let paths = (0..<10).map { dir.file("run-\($0).jsonl") }
        for path in paths { try Disk.write(path, "{\"seq\":1}\n") }
        let tailer = JournalTailer(mode: mode, logger: testLogger)
        let followers = try (0..<100).map { try Follower(tailer, paths[$0 % paths.count], from: 10) }
        try await Task.sleep(for: .seconds(3))
        #expect(tailer.statistics.sharedReads == 0)
        #expect(tailer.statistics.catchUpReads == 0)
        #expect(followers.allSatisfy { $0.wakeCount == 0 })
    }
}
