import FastCGIServer
import Synchronization

/// The responder's open streams and cap, for `/readyz`. The handler that answers `/readyz` is made before the
/// FastCGI server that counts the streams (the server takes the handler), so the server is attached afterwards;
/// until then nothing is open.
final class StreamCapacityGauge: Sendable {
    private let server = Mutex<FastCGIServer?>(nil)
    private let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func attach(_ server: FastCGIServer) {
        self.server.withLock { $0 = server }
    }

    var reading: (open: Int, limit: Int) {
        (server.withLock { $0?.statistics.activeStreams } ?? 0, limit)
    }
}
