import CFastCGI
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Threads that run requests: one thread per request, spawned on demand with a small stack and reused
/// afterwards. There is no queue: a request either gets a thread at once (an idle one or a new one) or is
/// refused at once, so nothing ever waits silently in the listen backlog behind parked SSE streams, which
/// is what a fixed-size pool would do. A finishing worker exits instead of idling when `spareLimit`
/// workers are already idle, so the thread count falls back to baseline after a burst.
final class WorkerPool: @unchecked Sendable {
    // Everything below is guarded by `lock` (hence @unchecked Sendable).
    private let lock = ConditionLock()
    private let allExited = Condition()
    private var idle: [Worker] = []
    private var threads = 0
    private var busy = 0
    /// Workers waiting on a kept connection (see `park`): alive, not idle, not busy.
    private var parked = 0
    private var closed = false

    private let stackSize: Int
    private let spareLimit: Int
    private let spareIdleTimeout: Duration
    private let spareFloor: Int
    private let maxBusy: Int
    private let probe: StackProbe?
    private let startFault: (@Sendable () -> Int32?)?

    /// Why a request could not be handed to a worker.
    enum Refusal: Error {
        /// `maxBusy` requests are running.
        case atCapacity
        /// The system refused a new thread (errno from pthread_create, typically EAGAIN).
        case threadUnavailable(Int32)
        /// The pool is shut down.
        case closed
    }

    struct Snapshot {
        var threads: Int
        var idle: Int
        var busy: Int
        var parked: Int
    }

    init(
        stackSize: Int, spareLimit: Int, maxBusy: Int, probe: StackProbe?,
        spareIdleTimeout: Duration = .seconds(30), spareFloor: Int = 4, startFault: (@Sendable () -> Int32?)? = nil
    ) {
        self.stackSize = stackSize
        self.spareLimit = spareLimit
        self.spareIdleTimeout = spareIdleTimeout
        self.spareFloor = spareFloor
        self.maxBusy = maxBusy
        self.probe = probe
        self.startFault = startFault
    }

    /// One pooled thread. Its fields are guarded by the pool's lock.
    private final class Worker: @unchecked Sendable {
        let wake = Condition()
        var job: (@Sendable () -> Void)?
        var mustExit = false
    }

    /// Runs `job` on an idle worker or a new thread. Never blocks on other requests.
    func dispatch(_ job: @escaping @Sendable () -> Void) -> Result<Void, Refusal> {
        lock.lock()
        if closed {
            lock.unlock()
            return .failure(.closed)
        }
        // The cap before an idle worker: parked workers (not busy) mean there can be idle threads while
        // `maxBusy` requests run.
        guard busy < maxBusy else {
            lock.unlock()
            return .failure(.atCapacity)
        }
        if let worker = idle.popLast() {
            worker.job = job
            busy += 1
            worker.wake.signal()
            lock.unlock()
            return .success(())
        }
        threads += 1
        busy += 1
        lock.unlock()

        let worker = Worker()
        let spawned: Result<pthread_t, ThreadStartError>
        if let forced = startFault?() {
            spawned = .failure(ThreadStartError(name: "fcgi-worker", errno: forced))
        } else {
            spawned = NativeThread.spawn(name: "fcgi-worker", stackSize: stackSize) { [self] in
                self.workerLoop(worker, first: job)
            }
        }
        if case .failure(let error) = spawned {
            lock.withLock {
                threads -= 1
                busy -= 1
                if threads == 0 { allExited.broadcast() }
            }
            return .failure(.threadUnavailable(error.errno))
        }
        return .success(())
    }

    private func workerLoop(_ worker: Worker, first: @escaping @Sendable () -> Void) {
        // Best effort: a worker that stays a normal thread only loses throughput (see the shim).
        _ = runjournal_use_batch_scheduling()
        // A worker parked on a kept connection is woken by this signal when the server stops.
        _ = runjournal_unblock_wake_signal()
        let bounds = probe != nil ? StackProbe.currentBounds() : nil
        if let probe, let bounds { probe.paint(bounds) }
        var job = first
        while true {
            job()
            if let probe, let bounds { probe.record(bounds) }

            lock.lock()
            busy -= 1
            if closed || idle.count >= spareLimit {
                exitLocked()
                return
            }
            idle.append(worker)
            // Dispatch takes the most recently idle worker, so the ones that time out here are those the
            // load has not needed for `spareIdleTimeout`.
            var idleUntil = MonotonicTime.now() + spareIdleTimeout
            while worker.job == nil && !worker.mustExit {
                if !worker.wake.wait(lock, until: idleUntil) && worker.job == nil && !worker.mustExit {
                    if idle.count > spareFloor, let index = idle.firstIndex(where: { $0 === worker }) {
                        idle.remove(at: index)
                        exitLocked()
                        return
                    }
                    idleUntil = MonotonicTime.now() + spareIdleTimeout
                }
            }
            guard let next = worker.job else {
                exitLocked()
                return
            }
            worker.job = nil
            lock.unlock()
            job = next
        }
    }

    /// Called with the lock held; releases it.
    private func exitLocked() {
        threads -= 1
        if threads == 0 { allExited.broadcast() }
        lock.unlock()
    }

    /// The calling worker's job waits on a kept connection for the web server's next request: until
    /// `unpark`, it is not counted against `maxBusy`. An idle kept connection is the web server's cache,
    /// not work, and must not take the capacity that requests (and the reserve kept for short requests
    /// next to `maxStreams` streams) are counted against.
    func park() {
        lock.withLock {
            busy -= 1
            parked += 1
        }
    }

    /// The parked worker has something to do again: a request arrived on its connection, or the connection
    /// ended and the job is about to return. It counts as busy again; false if that makes more than
    /// `maxBusy` requests, in which case the request is to be refused (503), not served.
    func unpark() -> Bool {
        lock.withLock {
            parked -= 1
            busy += 1
            return busy <= maxBusy
        }
    }

    /// Refuses new work and lets idle workers exit; busy ones exit when their request ends.
    func close() {
        lock.withLock {
            closed = true
            for worker in idle {
                worker.mustExit = true
                worker.wake.signal()
            }
            idle.removeAll()
        }
    }

    /// Waits until every worker thread has exited or `deadline` passes; true if they all did.
    func waitUntilAllExited(deadline: MonotonicTime) -> Bool {
        lock.withLock {
            while threads > 0 {
                if !allExited.wait(lock, until: deadline) { return threads == 0 }
            }
            return true
        }
    }

    var snapshot: Snapshot {
        lock.withLock { Snapshot(threads: threads, idle: idle.count, busy: busy, parked: parked) }
    }
}
