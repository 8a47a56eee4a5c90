import Foundation
import RunJournal
import Testing
@testable import JournalTailer
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// The tailer when the system refuses its polling thread (pthread_create → EAGAIN, forced by name through
/// `ThreadStartFaults`): the process carries on, the refusal is logged, and the journal is polled as soon
/// as a later subscription gets the thread started. Before, the failed start trapped the whole process.
@Suite("Tailer without a thread")
struct ThreadStartFailureTests {
    @Test("a subscription whose polling thread is refused is logged and followed once a later one starts it")
    func refusedPollingThreadIsRetried() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let first = dir.file("first.jsonl")
        let second = dir.file("second.jsonl")
        try Disk.write(first, "{\"seq\":1}\n")
        try Disk.write(second, "{\"seq\":1}\n")
        let log = LogCapture()
        // A thread name of this tailer's own: the fault matches by name, and tailers of tests running
        // meanwhile must not take it (nor be refused their poller).
        let threadName = "rj-tail-poll-refused-\(UInt32.random(in: 0...UInt32.max))"
        let tailer = JournalTailer(
            mode: .poll(interval: .milliseconds(20)), logger: log.logger, faults: TailerFaults(pollerThreadName: threadName))

        ThreadStartFaults.failNext(named: threadName)
        let refused = try Follower(tailer, first, from: 10)
        #expect(ThreadStartFaults.remaining(named: threadName) == 0)
        #expect(log.count(containing: "cannot start the polling thread") == 1)

        // The next subscription starts the thread, which polls both journals.
        let started = try Follower(tailer, second, from: 10)
        try Disk.append(first, "{\"seq\":2}\n")
        try Disk.append(second, "{\"seq\":2}\n")
        try await refused.waitFor("{\"seq\":2}\n")
        try await started.waitFor("{\"seq\":2}\n")
    }
}
