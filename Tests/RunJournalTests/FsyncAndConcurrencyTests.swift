import Foundation
import Synchronization
import Testing

@testable import RunJournal
import SystemSupport

@Suite("Fsync policies and concurrent appends")
struct FsyncAndConcurrencyTests {
    @Test(
        "every fsync policy writes the same correct journal",
        arguments: [FsyncPolicy.always, .interval(milliseconds: 5), .never])
    func policiesProduceCorrectJournals(policy: FsyncPolicy) throws {
        let directory = TemporaryDirectory("fsync")
        let clock = ManualClock()
        let store = try JournalStore(directory: directory.path, fsyncPolicy: policy, clock: clock)
        #expect(store.fsyncPolicy == policy)
        let id = runID("f")
        try store.create(id: id)
        for index in 0..<100 { try store.append(id, [try event("single", #"{"i":\#(index)}"#)]) }
        for batch in 0..<10 {
            let seqs = try store.append(id, try (0..<10).map { try event("batch", #"{"b":\#(batch),"i":\#($0)}"#) })
            #expect(seqs.count == 10)
        }
        try store.append(id, [try event("run.completed")])

        let report = try JournalVerifier.verify(path: store.path(of: id))
        #expect(report.isClean, "\(report.problems)")
        #expect(report.lineCount == 202)
        let expectedLines = [line(1, clock.nowMillis(), "run.created", #"{"metadata":{}}"#)]
            + (0..<100).map { line(Int64($0) + 2, clock.nowMillis(), "single", #"{"i":\#($0)}"#) }
            + (0..<100).map { index -> String in
                let text = line(Int64(index) + 102, clock.nowMillis(), "batch", #"{"b":\#(index / 10),"i":\#(index % 10)}"#)
                // Every line of a batch but its last says more follow (the batch commits with its last line).
                return index % 10 == 9 ? text : text.replacingOccurrences(of: #""type":"batch","#, with: #""type":"batch","more":true,"#)
            }
            + [line(202, clock.nowMillis(), "run.completed")]
        #expect(readText(store.path(of: id)) == expectedLines.joined())
        #expect(try store.summary(of: id).status == .completed)
    }

    @Test("group commit: many threads appending with fsync=always get contiguous, unique seqs")
    func groupCommit() throws {
        let directory = TemporaryDirectory("group")
        let store = try JournalStore(directory: directory.path, fsyncPolicy: .always)
        let id = runID("g")
        try store.create(id: id)
        let threads = 8
        let perThread = 60
        let assigned = LockedValue<[Int64]>([])
        let failures = LockedValue<[String]>([])
        runOnThreads(threads) { thread in
            for index in 0..<perThread {
                do {
                    let seqs = try store.append(id, [try event("t\(thread)", #"{"i":\#(index)}"#)])
                    assigned.withLock { $0.append(contentsOf: Array(seqs)) }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        let total = threads * perThread
        #expect(assigned.withLock { $0.sorted() } == Array(2...Int64(total + 1)))
        let report = try JournalVerifier.verify(path: store.path(of: id))
        #expect(report.isClean, "\(report.problems)")
        #expect(report.lineCount == total + 1)

        // Each thread's events are in its own order in the file.
        var perThreadOrder: [String: [Int]] = [:]
        try store.openReader(id).forEachLine(from: 0) { line in
            if line.seq > 1, let value = Int(String(decoding: line.data.dropFirst(5).dropLast(), as: UTF8.self)) {
                perThreadOrder[line.typeString, default: []].append(value)
            }
            return true
        }
        #expect(perThreadOrder.count == threads)
        for (_, order) in perThreadOrder { #expect(order == Array(0..<perThread)) }
    }

    @Test("threads appending through separate stores (separate descriptors) interleave safely")
    func separateStoresAcrossThreads() throws {
        let directory = TemporaryDirectory("stores")
        let id = runID("m")
        try makeStore(directory).create(id: id)
        let stores = try (0..<4).map { _ in try makeStore(directory) }
        let failures = LockedValue<[String]>([])
        runOnThreads(4) { thread in
            for index in 0..<250 {
                do {
                    try stores[thread].append(id, [try event("w", #"{"t":\#(thread),"i":\#(index)}"#)])
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        let report = try JournalVerifier.verify(path: stores[0].path(of: id))
        #expect(report.isClean, "\(report.problems)")
        #expect(report.lineCount == 1001)
        for store in stores { #expect(try store.summary(of: id).lastSeq == 1001) }
    }

    @Test("concurrent appends to different runs all land")
    func differentRuns() throws {
        let directory = TemporaryDirectory("many")
        let store = try JournalStore(directory: directory.path, fsyncPolicy: .interval(milliseconds: 2), maxOpenFiles: 3)
        let ids = (0..<6).map { runID("r\($0)") }
        for id in ids { try store.create(id: id) }
        let failures = LockedValue<[String]>([])
        runOnThreads(6) { thread in
            for index in 0..<100 {
                do {
                    // Every thread touches every run, so the small handle cache keeps evicting.
                    try store.append(ids[(thread + index) % ids.count], [try event("x")])
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        var total: Int64 = 0
        for id in ids {
            #expect(try JournalVerifier.verify(path: store.path(of: id)).isClean)
            total += try store.summary(of: id).lastSeq - 1
        }
        #expect(total == 600)
    }

    @Test("appendIf decisions from many threads never double-append")
    func appendIfIsAtomic() throws {
        let directory = TemporaryDirectory("appendif")
        let store = try makeStore(directory)
        let id = runID("once")
        try store.create(id: id)
        try store.append(id, [try event("run.waiting")])
        let appended = LockedValue(0)
        runOnThreads(8) { _ in
            for _ in 0..<20 {
                // "Fail the run if it is still waiting": only one thread may ever see that true.
                let result = try? store.appendIf(id) { summary in
                    summary.lastType == "run.waiting" ? [NewEvent(type: .failed, compactData: Array(#"{"reason":"idle"}"#.utf8))] : nil
                }
                if result != nil { appended.withLock { $0 += 1 } }
            }
        }
        #expect(appended.withLock { $0 } == 1)
        #expect(try store.summary(of: id).lastSeq == 3)
    }
}

/// `fsync=interval` when the system refuses the flusher's thread (forced by name through `ThreadStartFaults`):
/// the append is acknowledged and synced on the appending thread, and a later append starts the flusher.
/// Before, the failed start trapped and took the process (every stream of a responder) down.
@Suite("Store: interval flusher without a thread")
struct IntervalFlusherThreadTests {
    @Test("an append whose flusher thread is refused is still acknowledged, and the next one starts the flusher")
    func refusedFlusherThreadFallsBackToSyncingInline() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory, fsync: .interval(milliseconds: 50))
        let id = try store.create(id: runID("r1")).id
        ThreadStartFaults.failNext(named: "rj-fsync-interval")
        #expect(try store.append(id, [try event("step")]) == 2...2)
        #expect(ThreadStartFaults.remaining(named: "rj-fsync-interval") == 0)
        #expect(try store.append(id, [try event("step")]) == 3...3)
        #expect(journalLines(store.path(of: id)).count == 3)
    }
}
