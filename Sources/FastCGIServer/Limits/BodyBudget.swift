import Synchronization

/// The bytes of request bodies the responder holds at once, across all requests. `maxBodyBytes` bounds one
/// request; this bounds them all: without it, as many 1 MiB bodies as there are request slots (the stream cap
/// plus 1024) could be in memory together. A request reserves its declared `Content-Length` before the
/// first byte is read (a body without one reserves as it arrives) and gives the reservation back when its
/// response is done; one that does not fit is answered 503 + `Retry-After` without reading its body.
final class BodyBudget: Sendable {
    let limit: Int
    private let reserved = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Bytes reserved right now.
    var inUse: Int { reserved.load(ordering: .relaxed) }

    /// Reserves `bytes` if they fit under the limit; false (and nothing reserved) when they do not.
    func tryReserve(_ bytes: Int) -> Bool {
        guard bytes > 0 else { return true }
        var current = reserved.load(ordering: .relaxed)
        while true {
            let (sum, overflow) = current.addingReportingOverflow(bytes)
            guard !overflow, sum <= limit else { return false }
            let (exchanged, original) = reserved.compareExchange(expected: current, desired: sum, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        reserved.subtract(bytes, ordering: .relaxed)
    }

    /// One request's share of the budget: grows as its body is read, released once (by `release` or when
    /// the request is done with it).
    final class Reservation {
        private let budget: BodyBudget
        private(set) var bytes = 0

        init(_ budget: BodyBudget) {
            self.budget = budget
        }

        /// Makes the reservation at least `total` bytes; false when the budget cannot give the difference.
        func grow(to total: Int) -> Bool {
            guard total > bytes else { return true }
            guard budget.tryReserve(total - bytes) else { return false }
            bytes = total
            return true
        }

        func release() {
            budget.release(bytes)
            bytes = 0
        }

        deinit { release() }
    }
}
