/// The stream loop's deadlines: a binary min-heap of (deadline, key). A key is scheduled again only when
/// its new deadline is earlier than the one it has (the loop keeps each key's earliest deadline); the
/// later entries left behind are recognised as stale when they come up and dropped, so a stream costs one
/// entry however often its heartbeat moves (every write moves it).
struct TimerHeap {
    private var entries: [(deadline: Int64, key: UInt64)] = []

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }
    /// The earliest deadline, if any.
    var nextDeadline: Int64? { entries.first?.deadline }

    mutating func insert(deadline: Int64, key: UInt64) {
        entries.append((deadline, key))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    mutating func popDue(now: Int64) -> (deadline: Int64, key: UInt64)? {
        guard let first = entries.first, first.deadline <= now else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < entries.count && entries[left].deadline < entries[smallest].deadline { smallest = left }
                if right < entries.count && entries[right].deadline < entries[smallest].deadline { smallest = right }
                if smallest == parent { break }
                entries.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }

    mutating func removeAll() { entries.removeAll() }
}
