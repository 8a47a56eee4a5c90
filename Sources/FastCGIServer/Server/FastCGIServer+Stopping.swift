import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport
import RunsAPI
import Synchronization

// Stopping: signals, the acceptors, parked workers, and the grace period for requests and streams.
extension FastCGIServer {
    func requestStop(force: Bool) {
        let first = lifecycleLock.withLock { () -> Bool in
            let first = !stopRequested
            stopRequested = true
            if force { forceRequested = true }
            lifecycleChanged.broadcast()
            return first
        }
        if first {
            monitor.fireAll()
            streamLoop.stop()
        }
    }

    /// First SIGTERM/SIGINT: graceful stop. A second one while stopping skips the grace period. SIGHUP calls
    /// the reload hook (on the signal thread) and touches nothing else: streams and connections carry on.
    func signalReceived(_ signo: Int32) {
        if signo == SIGHUP {
            guard let reload = configuration.onReload else {
                logger.notice("received SIGHUP: nothing to reload")
                return
            }
            logger.notice("received SIGHUP: reloading")
            reload()
            return
        }
        let alreadyStopping = lifecycleLock.withLock { stopRequested }
        logger.notice("received signal \(signo)\(alreadyStopping ? " again: closing remaining connections now" : "")")
        requestStop(force: alreadyStopping)
    }

    /// Wakes acceptors blocked in accept(2) with the wake-up signal until they have all left their loop.
    /// A signal rather than shutdown(2) on the listening socket: an inherited socket is shared with the
    /// supervisor (systemd keeps it for the next instance) and must stay intact. The signal is re-sent
    /// because one delivered just before a thread enters accept(2) is lost.
    func stopAcceptors() {
        let deadline = MonotonicTime.now() + .seconds(2)
        lifecycleLock.lock()
        acceptorsMustExit = true
        while true {
            let alive = acceptors.filter { !$0.exited }
            if alive.isEmpty { break }
            for acceptor in alive {
                // Only while `exited` is false (checked under the lock the acceptor needs to set it) is
                // the detached thread guaranteed to exist.
                if let thread = acceptor.thread { pthread_kill(thread, runjournal_wake_signal()) }
            }
            if !(MonotonicTime.now() < deadline) {
                logger.warning("\(alive.count) acceptor thread(s) did not leave accept(2) in time")
                break
            }
            lifecycleChanged.wait(lifecycleLock, until: MonotonicTime.now() + .milliseconds(20))
        }
        lifecycleLock.unlock()
    }

    /// Ends the kept connections nobody is using: the workers waiting on them for the web server's next
    /// request are woken with the wake-up signal (their read(2) fails with EINTR, libfcgi closes the
    /// connection and the worker leaves), and no worker parks from now on. A stop must not wait for the
    /// web server to close them: nginx keeps idle connections for a minute. Called again on every round of
    /// `drainRequests`, for the same lost-signal reason as in `stopAcceptors`.
    func wakeParkedWorkers() {
        connectionsLock.withLock {
            keptConnectionsClosing = true
            // Only while listed (removed under this lock before its worker goes on) is a thread known to exist.
            for thread in waitingForRequests.values { pthread_kill(thread, runjournal_wake_signal()) }
        }
    }

    /// Waits for in-flight requests for the grace period (less if a second signal forces it), then shuts
    /// down the connections still open so blocked writes fail and their workers end.
    func drainRequests() {
        let graceEnd = MonotonicTime.now() + configuration.stopGracePeriod
        let forced = { [self] in lifecycleLock.withLock { forceRequested } }
        if waitForWorkersToExit(until: graceEnd, unless: forced) && waitForStreamLoop(until: graceEnd, unless: forced) { return }
        streamLoop.forceClose()
        let open = connectionsLock.withLock {
            for fd in connections.values { _ = shutdown(fd, Int32(SHUT_RDWR)) }
            return connections.count
        }
        logger.notice("stop grace period over: shut down \(open) open connection(s)")
        if !waitForWorkersToExit(until: MonotonicTime.now() + .seconds(2), unless: { false }) {
            logger.warning("\(pool.snapshot.busy) request(s) still running after the stop; their handlers do not return")
        }
    }

    /// True once the stream loop has delivered the end of every stream and exited.
    func waitForStreamLoop(until deadline: MonotonicTime, unless giveUp: () -> Bool) -> Bool {
        while !streamLoop.waitUntilExited(deadline: min(deadline, MonotonicTime.now() + .milliseconds(50))) {
            if giveUp() || !(MonotonicTime.now() < deadline) { return false }
        }
        return true
    }

    /// True once every worker has exited; false when `deadline` passes or `giveUp()` says so first. Wakes
    /// parked workers every 50 ms meanwhile: a wake-up sent just before a worker parks is lost.
    func waitForWorkersToExit(until deadline: MonotonicTime, unless giveUp: () -> Bool) -> Bool {
        while pool.snapshot.threads > 0 {
            if giveUp() || !(MonotonicTime.now() < deadline) { return false }
            wakeParkedWorkers()
            _ = pool.waitUntilAllExited(deadline: min(deadline, MonotonicTime.now() + .milliseconds(50)))
        }
        return true
    }
}
