/// The bytes a parked stream's connection has not taken yet, in order: what the stream loop could not write
/// at once to a slow client, sent on EPOLLOUT. Its own type because what it holds is the memory a slow
/// client costs: the loop bounds what is *pending* (`StreamLoop.Settings.backlogLimit`), and this keeps the
/// storage in line with it.
struct SendBacklog {
    private var storage: [UInt8] = []
    /// Where the unsent bytes begin in `storage`.
    private var start = 0

    /// Bytes not sent yet.
    var pending: Int { storage.count - start }
    /// Bytes held, sent or not (what the backlog costs, apart from spare capacity).
    var heldBytes: Int { storage.count }

    /// Sent bytes are dropped here, once they are at least as many as those still pending (each byte is
    /// then moved at most once on average): a client that reads but never quite catches up keeps the
    /// backlog from ever emptying, and the storage would otherwise hold everything it was ever sent.
    mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0 && start == storage.count {
            storage.removeAll(keepingCapacity: false)
            start = 0
        } else if start > 0 && start >= pending {
            storage.removeSubrange(0..<start)
            start = 0
        }
        storage.append(contentsOf: bytes)
    }

    /// Calls `body` with the unsent bytes (not empty).
    func withPendingBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start...])) }
    }

    /// The first `count` unsent bytes were sent.
    mutating func sent(_ count: Int) {
        precondition(count >= 0 && count <= pending)
        start += count
    }

    /// Everything was sent: gives the storage back (an idle stream holds no backlog memory).
    mutating func releaseDelivered() {
        precondition(pending == 0)
        storage = []
        start = 0
    }
}
