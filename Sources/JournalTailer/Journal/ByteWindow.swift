import SystemSupport

/// The newest published bytes of one journal, kept in memory so every subscriber that is close behind takes
/// them from here instead of reading the file. Bounded: once more than `capacity` bytes are published the
/// oldest fall off the front and subscribers behind `start` catch up from the file themselves.
///
/// The window always ends at the journal's published end; `start...end` are file offsets.
struct ByteWindow {
    let capacity: Int
    /// Bytes before `head` are dead (already dropped from the window); they are compacted away once there are
    /// `capacity` of them, so dropping from the front stays amortised O(1) per byte instead of shifting the
    /// array on every append, and memory stays under twice the capacity.
    private var storage: [UInt8] = []
    private var head = 0
    private(set) var start: Int64

    init(capacity: Int, at offset: Int64) {
        precondition(capacity > 0, "window capacity must be positive")
        self.capacity = capacity
        self.start = offset
    }

    var end: Int64 { start + Int64(storage.count - head) }
    var count: Int { storage.count - head }

    /// Appends bytes published right after `end`, then drops the oldest beyond `capacity`.
    mutating func append(_ bytes: some Collection<UInt8>) {
        storage.append(contentsOf: bytes)
        let excess = count - capacity
        if excess > 0 {
            head += excess
            start += Int64(excess)
        }
        if head >= capacity {
            storage.removeSubrange(0..<head)
            head = 0
        }
    }

    /// Empties the window and moves it to `offset` (used when published bytes cannot be contiguous with the
    /// new ones, because a large burst was only partly kept, or the file shrank below `start`).
    mutating func reset(at offset: Int64) {
        storage.removeAll(keepingCapacity: true)
        head = 0
        start = offset
    }

    /// Forgets published bytes at and after `offset` (the file shrank to `offset`).
    mutating func truncate(to offset: Int64) {
        if offset <= start {
            reset(at: offset)
        } else if offset < end {
            storage.removeSubrange((head + Int(offset - start))...)
        }
    }

    /// Complete lines starting at `offset` (which must be within `start...end`): at most `maxBytes` of them,
    /// or the one line starting there when it alone is longer. Nil when no '\n' follows `offset`.
    func completeLines(from offset: Int64, maxBytes: Int) -> [UInt8]? {
        precondition(offset >= start && offset <= end, "offset outside the window")
        let from = head + Int(offset - start)
        guard let cut = lineCut(in: storage[from...], maxBytes: maxBytes) else { return nil }
        return Array(storage[from..<cut])
    }
}

/// Where to cut `bytes` so the prefix holds only complete lines: just after the last '\n' within the first
/// `maxBytes`, or just after the first '\n' when the first line alone is longer. Nil when there is no '\n'.
func lineCut(in bytes: ArraySlice<UInt8>, maxBytes: Int) -> Int? {
    let limit = bytes.startIndex + min(max(maxBytes, 1), bytes.count)
    if let last = LineFeedScan.lastLineFeed(in: bytes[bytes.startIndex..<limit]) {
        return last + 1
    }
    if let first = bytes[limit...].firstIndex(of: 0x0A) {
        return first + 1
    }
    return nil
}
