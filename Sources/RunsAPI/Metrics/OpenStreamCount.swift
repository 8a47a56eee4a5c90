import CoreMetrics
import Synchronization

/// One stream's place in `runjournal_streams_open`, given back once however often `close` is called.
///
/// It exists because a stream can outlive its body: a transport that parks streams (`StreamParking`) takes
/// the live phase over and the body returns at once, so "open until the body returns" counted every parked
/// stream as closed (the gauge read about 0 with thousands of streams open). The body of a counted stream
/// writes through `CountingParkingWriter`, which hands the transport a `CountedStream`: the count is given
/// back when the transport finishes the stream, or when the body returns without having parked it.
final class OpenStreamCount: Sendable {
    private let meter: Meter
    private let closed = Atomic<Bool>(false)

    init(meter: Meter) {
        self.meter = meter
        meter.increment()
    }

    func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        meter.decrement()
    }
}

/// The writer a counted stream body gets when its transport parks streams: writes go straight through, and a
/// parked stream is wrapped so that finishing it closes its count.
final class CountingParkingWriter: StreamParking {
    private let base: any StreamParking
    private let count: OpenStreamCount
    /// The transport took the stream: the count is closed when it finishes the stream, not by the body.
    private(set) var parked = false

    init(_ base: any StreamParking, count: OpenStreamCount) {
        self.base = base
        self.count = count
    }

    func write(_ bytes: [UInt8]) throws { try base.write(bytes) }
    func flush() throws { try base.flush() }
    func observeHangup(_ handler: @escaping @Sendable () -> Void) -> (any HangupObservation)? { base.observeHangup(handler) }

    func park(_ stream: any ParkableStream) -> Bool {
        guard base.park(CountedStream(stream, count: count)) else { return false }
        parked = true
        return true
    }
}

/// A parked stream that closes its `OpenStreamCount` when the transport finishes it.
final class CountedStream: ParkableStream {
    private let base: any ParkableStream
    private let count: OpenStreamCount

    init(_ base: any ParkableStream, count: OpenStreamCount) {
        self.base = base
        self.count = count
    }

    func setWaker(_ wake: @escaping @Sendable () -> Void) { base.setWaker(wake) }
    func step(readLimit: Int) throws -> StreamStep { try base.step(readLimit: readLimit) }
    func markClientGone() { base.markClientGone() }

    func finish() {
        base.finish()
        count.close()
    }
}
