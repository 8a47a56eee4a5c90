import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport
import RunsAPI
import Synchronization

// Refusals for capacity: concurrent requests and streams.
extension FastCGIServer {
    /// The 503 for a request that arrives while `maxConcurrentRequests` requests run, on a new connection
    /// (answered by the acceptor) or on a kept one (by its worker).
    @discardableResult
    func refuseAtCapacity(_ connection: FastCGIConnection) -> Bool {
        logger.warning("request refused: at maxConcurrentRequests", metadata: ["limit": "\(maxConcurrent)"])
        return refuse(connection, message: "the server is handling its maximum of \(maxConcurrent) concurrent requests")
    }

    /// Answers the connection's request 503 `server_busy` with `Retry-After`; true if it was delivered.
    @discardableResult
    func refuse(_ connection: FastCGIConnection, message: String) -> Bool {
        send(.error(503, code: "server_busy", message: message,
                    extraHeaders: [("Retry-After", String(configuration.retryAfterSeconds))]),
             on: connection, method: "GET")
    }

    func reserveStream() -> Bool {
        var current = activeStreams.load(ordering: .relaxed)
        while current < configuration.maxStreams {
            let (exchanged, original) = activeStreams.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
}
