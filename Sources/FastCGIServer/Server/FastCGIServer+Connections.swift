import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport
import RunsAPI
import Synchronization

// A worker's life on one connection: its first request, then each next one while the web server keeps it.
extension FastCGIServer {
    /// Serves requests on one connection until it closes: the first, accepted by an acceptor, and then,
    /// while the web server keeps the connection (nginx's `fastcgi_keep_conn`), each next one as it
    /// arrives. A worker parked on a kept connection is never needed for anything else: the web server
    /// sends a request on it only when the previous response is complete, so the request finds its worker
    /// waiting, and new connections go to the acceptors as before.
    func serveConnection(_ connection: FastCGIConnection) {
        // The first request is read here, not on the acceptor, so a client that connects and stalls holds
        // this worker, never an acceptor; and only briefly: a web server sends its request as soon as it
        // has connected (libfcgi's own accept waited 2 s for it).
        connection.setIdleTimeout(min(Self.firstRequestTimeout, configuration.keptConnectionIdleTimeout))
        let stackBounds = probe != nil ? StackProbe.currentBounds() : nil
        var isFirstRequest = true
        while true {
            let id = nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue
            let received: Bool
            let admitted: Bool
            if isFirstRequest {
                // Not woken by a stop: a request accepted just before it is served within the grace
                // period, and a silent connection ends at the timeout above.
                received = connection.readNextRequest()
                admitted = true
                isFirstRequest = false
                if received { connection.setIdleTimeout(configuration.keptConnectionIdleTimeout) }
            } else {
                // Waiting on a kept connection: parked (no request capacity taken) and listed, so a stop
                // can interrupt the wait.
                let waiting = connectionsLock.withLock { () -> Bool in
                    guard !keptConnectionsClosing else { return false }
                    waitingForRequests[id] = pthread_self()
                    return true
                }
                guard waiting else {
                    connection.closeConnection()
                    return
                }
                pool.park()
                received = connection.readNextRequest()
                connectionsLock.withLock { _ = waitingForRequests.removeValue(forKey: id) }
                admitted = pool.unpark()
            }
            guard received else { return }

            let fd = connection.connectionFD
            // Registered while the request is served and its body drained, so a forced stop can shut the
            // connection down; forgotten before libfcgi may close it, so a reused number is never touched.
            connectionsLock.withLock { connections[id] = fd }
            var reusable = admitted ? serve(connection, connectionID: id) : refuseAtCapacity(connection)
            requestsServed.add(1, ordering: .relaxed)
            if let probe, let stackBounds { probe.record(stackBounds) }
            // A body left unread up to this much past the limit (a 413 answered from Content-Length) is
            // read and dropped to keep the connection; nginx never sends more than its client_max_body_size.
            reusable = reusable && connection.drainBody(limit: configuration.maxBodyBytes + 65536)
            connectionsLock.withLock { _ = connections.removeValue(forKey: id) }
            connection.finishRequest(keepConnection: reusable)
            guard connection.isConnectionOpen else { return }
        }
    }
}
