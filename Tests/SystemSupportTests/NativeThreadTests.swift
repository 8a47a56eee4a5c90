import Foundation
import Testing
import SystemSupport

@Suite("startDetachedThread")
struct NativeThreadTests {
    @Test("runs the body on a new thread that carries the name, cut to Linux's 15 bytes")
    func namesTheThread() throws {
        let seen = LockedValue<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        try startDetachedThread(name: "rj-support-name-that-is-long", stackSize: 128 * 1024) {
            // The kernel's name of the calling thread.
            let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?
                .trimmingCharacters(in: .newlines)
            seen.withLock { $0 = name }
            done.signal()
        }
        done.wait()
        #expect(seen.withLock { $0 } == "rj-support-name")
    }

    @Test("a forced start failure is thrown with its name and errno, once per fault")
    func forcedFailureIsThrown() throws {
        let name = "rj-support-fault"
        ThreadStartFaults.failNext(2, named: name, errno: EAGAIN)
        for _ in 0..<2 {
            #expect(throws: ThreadStartError(name: name, errno: EAGAIN)) {
                try startDetachedThread(name: name) {}
            }
        }
        #expect(ThreadStartFaults.remaining(named: name) == 0)
        let done = DispatchSemaphore(value: 0)
        try startDetachedThread(name: name) { done.signal() }
        done.wait()
    }

    @Test("spawn reports the same failure as a Result")
    func spawnReportsAResult() {
        let name = "rj-support-spawn"
        ThreadStartFaults.failNext(named: name, errno: ENOMEM)
        guard case .failure(let error) = NativeThread.spawn(name: name, stackSize: nil, {}) else {
            Issue.record("the forced failure was not reported")
            return
        }
        #expect(error.errno == ENOMEM)
    }

    @Test("a stack size the system refuses is reported, not trapped on")
    func refusedStackSize() {
        // Below PTHREAD_STACK_MIN: pthread_attr_setstacksize answers EINVAL.
        #expect(throws: ThreadStartError(name: "rj-support-stack", errno: EINVAL)) {
            try startDetachedThread(name: "rj-support-stack", stackSize: 1) {}
        }
    }
}
