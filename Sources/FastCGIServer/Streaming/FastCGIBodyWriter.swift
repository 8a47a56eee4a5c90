import RunsAPI
import Synchronization

/// The `ResponseBodyWriter` a `.stream` body writes through: bytes go to libfcgi's stdout stream, any
/// failure (the web server or its client went away, or a forced stop shut the connection) becomes
/// `ResponseWriterError.clientGone`, and hang-ups of an idle stream are reported by the shared
/// `HangupMonitor`. Used by the stream's own worker thread; only the observations cross threads.
final class FastCGIBodyWriter: StreamParking {
    private let connection: FastCGIConnection
    private let monitor: HangupMonitor
    /// Takes a stream over for the stream loop (detaching the connection); false when it cannot.
    private let parker: ((any ParkableStream) -> Bool)?
    private var failed = false
    private var ended = false
    /// The stream and its connection went to the stream loop: the server must not touch the connection.
    private(set) var parked = false
    /// The connection's registration with the monitor, made on the first `observeHangup`.
    private var watchKey: UInt64?

    init(connection: FastCGIConnection, monitor: HangupMonitor, parker: ((any ParkableStream) -> Bool)? = nil) {
        self.connection = connection
        self.monitor = monitor
        self.parker = parker
    }

    func park(_ stream: any ParkableStream) -> Bool {
        guard let parker, !failed, !ended else { return false }
        // The monitor lets go of the descriptor before the loop owns it (and may close it).
        end()
        guard parker(stream) else {
            ended = false  // the stream goes on here, through this writer
            return false
        }
        parked = true
        return true
    }

    func write(_ bytes: [UInt8]) throws {
        guard !failed, !ended, connection.write(bytes) else {
            failed = true
            throw ResponseWriterError.clientGone
        }
    }

    func flush() throws {
        guard !failed, !ended, connection.flush() else {
            failed = true
            throw ResponseWriterError.clientGone
        }
    }

    func observeHangup(_ handler: @escaping @Sendable () -> Void) -> (any HangupObservation)? {
        guard !ended else { return nil }
        if watchKey == nil {
            watchKey = monitor.watch(fd: connection.connectionFD)
        }
        guard let key = watchKey, let id = monitor.addHandler(key: key, handler) else { return nil }
        return Observation(monitor: monitor, key: key, id: id)
    }

    /// Stops watching the connection; called by the server when the stream body returns, before the
    /// connection is closed and its descriptor number can be reused.
    func end() {
        ended = true
        if let watchKey {
            monitor.unwatch(key: watchKey)
            self.watchKey = nil
        }
    }

    private final class Observation: HangupObservation {
        private let monitor: HangupMonitor
        private let key: UInt64
        private let id: UInt64
        private let cancelled = Atomic<Bool>(false)

        init(monitor: HangupMonitor, key: UInt64, id: UInt64) {
            self.monitor = monitor
            self.key = key
            self.id = id
        }

        func cancel() {
            guard !cancelled.exchange(true, ordering: .relaxed) else { return }
            monitor.removeHandler(key: key, id: id)
        }
    }
}
