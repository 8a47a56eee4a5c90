import Foundation
import Testing
@testable import FastCGIServer

/// The pool's accounting, driven directly: busy, idle and parked workers against `maxBusy`.
@Suite struct WorkerPoolTests {
    /// Parked workers are not busy, so idle threads can exist while `maxBusy` jobs run: the cap must be
    /// checked before an idle worker is reused, not only before a thread is created.
    @Test func refusesAtTheCapEvenWithAnIdleWorker() async throws {
        let pool = WorkerPool(stackSize: 256 * 1024, spareLimit: 8, maxBusy: 1, probe: nil)
        defer { pool.close() }
        // A job that parks (like a worker waiting on a kept connection) while another one runs to the end.
        let parkedInside = Gate()
        let unpark = Gate()
        #expect(isSuccess(pool.dispatch {
            pool.park()
            parkedInside.open()
            unpark.wait(timeout: .seconds(30))
            _ = pool.unpark()
        }))
        #expect(parkedInside.wait(timeout: .seconds(10)))
        #expect(isSuccess(pool.dispatch {}))
        unpark.open()
        #expect(await pollUntil(timeout: .seconds(10)) { pool.snapshot.idle == 2 && pool.snapshot.busy == 0 })

        let release = Gate()
        defer { release.open() }
        #expect(isSuccess(pool.dispatch { release.wait(timeout: .seconds(30)) }))
        let refused = pool.dispatch {}
        guard case .failure(.atCapacity) = refused else {
            Issue.record("a second job ran with maxBusy 1: \(refused), \(pool.snapshot)")
            return
        }
        #expect(pool.snapshot.busy == 1)
        #expect(pool.snapshot.idle == 1)
    }

    private func isSuccess(_ result: Result<Void, WorkerPool.Refusal>) -> Bool {
        if case .success = result { return true }
        return false
    }
}
