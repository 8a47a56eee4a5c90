import Foundation
import Testing
import SystemSupport

@Suite("LockedValue")
struct LockedValueTests {
    /// Lost updates would show as a short count; under deploy/scripts/sanitize.sh thread, a lock the
    /// sanitizer could not see would show as race reports (what `Synchronization.Mutex` produced).
    @Test("increments from many threads at once are all kept")
    func concurrentIncrementsAreAllKept() {
        let counter = LockedValue(0)
        let threads = 4, increments = 100
        // Plain threads, all released at once, each yielding between its read and its write: without the
        // lock, another thread's increment lands in between and one of the two is lost.
        let start = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        for _ in 0..<threads {
            Thread {
                start.wait()
                for _ in 0..<increments {
                    counter.withLock { value in
                        let read = value
                        sched_yield()
                        value = read + 1
                    }
                }
                done.signal()
            }.start()
        }
        for _ in 0..<threads { start.signal() }
        for _ in 0..<threads { done.wait() }
        #expect(counter.withLock { $0 } == threads * increments)
    }

    @Test("withLock passes on the body's result and its error")
    func resultAndErrorPassThrough() {
        struct Refused: Error, Equatable {}
        let names = LockedValue(["a"])
        #expect(names.withLock { $0.append("b"); return $0.count } == 2)
        #expect(throws: Refused()) { try names.withLock { _ throws(Refused) in throw Refused() } }
        #expect(names.withLock { $0 } == ["a", "b"])
    }
}
