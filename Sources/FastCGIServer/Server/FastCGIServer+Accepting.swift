import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport
import RunsAPI
import Synchronization

// Accepting connections and handing them to workers (or answering 503 when none can be had).
extension FastCGIServer {
    func startAcceptors() throws(FastCGIServerError) {
        for index in 0..<configuration.acceptorThreads {
            let acceptor = Acceptor()
            // Registered before the thread starts so stopAcceptors never misses it.
            lifecycleLock.withLock { acceptors.append(acceptor) }
            let spawned = NativeThread.spawn(name: "fcgi-accept-\(index)", stackSize: 256 * 1024) { [self] in
                self.acceptLoop(acceptor)
            }
            switch spawned {
            case .success(let thread):
                lifecycleLock.withLock { if !acceptor.exited { acceptor.thread = thread } }
            case .failure(let error):
                lifecycleLock.withLock { acceptor.exited = true }
                if index == 0 {
                    throw FastCGIServerError(.threadCreationFailed, "cannot start an acceptor thread", errno: error.errno)
                }
                logger.warning("started only \(index) of \(configuration.acceptorThreads) acceptor threads", metadata: ["errno": "\(error.errno)"])
                return
            }
        }
    }

    func acceptLoop(_ acceptor: Acceptor) {
        _ = runjournal_unblock_wake_signal()
        defer {
            lifecycleLock.withLock {
                acceptor.exited = true
                lifecycleChanged.broadcast()
            }
        }
        var backoffMilliseconds = 50
        while !lifecycleLock.withLock({ acceptorsMustExit }) {
            let fd = runjournal_accept(socket.fd, acceptsTCP ? 1 : 0)
            if fd >= 0 {
                backoffMilliseconds = 50
                connectionsAccepted.add(1, ordering: .relaxed)
                dispatch(FastCGIConnection(acceptedFD: fd))
                continue
            }
            let error = errno
            switch error {
            case EINTR, ECONNABORTED, EPROTO, EPIPE, ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH:
                // A signal (the stop wake-up among them) or a connection that died before we got to it.
                continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                logger.error("cannot accept: out of descriptors or memory; backing off", metadata: [
                    "errno": "\(error)", "backoffMs": "\(backoffMilliseconds)",
                    "activeRequests": "\(pool.snapshot.busy)",
                ])
                sleep(milliseconds: backoffMilliseconds)
                backoffMilliseconds = min(backoffMilliseconds * 2, 1000)
            case EBADF, EINVAL, ENOTSOCK, EOPNOTSUPP:
                if lifecycleLock.withLock({ acceptorsMustExit }) { return }
                let failure = FastCGIServerError(.acceptFailed, "the listening socket failed", errno: error)
                logger.critical("\(failure)")
                lifecycleLock.withLock { if acceptFailure == nil { acceptFailure = failure } }
                requestStop(force: false)
                return
            default:
                logger.error("accept failed; retrying", metadata: ["errno": "\(error)"])
                sleep(milliseconds: backoffMilliseconds)
                backoffMilliseconds = min(backoffMilliseconds * 2, 1000)
            }
        }
    }

    /// Hands an accepted connection to a worker, which reads and serves its requests. When no worker can be
    /// had the connection's request is answered 503 right here: never left waiting for a thread. Reading
    /// it is then the acceptor's job, with a short deadline, so a client that stalls at that moment holds
    /// the acceptor for a second at most.
    func dispatch(_ connection: FastCGIConnection) {
        let result = pool.dispatch { [self] in self.serveConnection(connection) }
        guard case .failure(let refusal) = result else { return }
        guard connection.readArrivedRequest(waitingAtMost: .seconds(1)) else { return }
        switch refusal {
        case .atCapacity:
            refuseAtCapacity(connection)
        case .threadUnavailable(let code):
            logger.error("request refused: pthread_create failed", metadata: ["errno": "\(code)"])
            sleep(milliseconds: 10)
            refuse(connection, message: "the server cannot start another worker thread")
        case .closed:
            refuse(connection, message: "the server is stopping")
        }
        requestsServed.add(1, ordering: .relaxed)
        connection.closeConnection()
    }
}
