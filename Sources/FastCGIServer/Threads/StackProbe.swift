import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Measures how deep worker threads actually go into their small stacks, so the configured size can be
/// chosen with evidence and a margin. The unused part of a fresh stack is painted with a pattern; after
/// each job the lowest overwritten byte gives the high-water mark. Painting touches every page, so it is
/// only enabled for measurement (`FastCGIServerConfiguration.measuresStackUsage`).
final class StackProbe: Sendable {
    private static let pattern: UInt8 = 0xA5
    private let deepest = Atomic<Int>(0)

    /// The deepest use seen on any worker, in bytes from the top of the stack.
    var highWaterBytes: Int { deepest.load(ordering: .relaxed) }

    /// The current thread's stack as [low, high), excluding the guard page.
    struct Bounds {
        let low: UInt
        let high: UInt
    }

    static func currentBounds() -> Bounds? {
        var attributes = pthread_attr_t()
        guard pthread_getattr_np(pthread_self(), &attributes) == 0 else { return nil }
        defer { pthread_attr_destroy(&attributes) }
        var address: UnsafeMutableRawPointer?
        var size = 0
        guard pthread_attr_getstack(&attributes, &address, &size) == 0, let address else { return nil }
        let low = UInt(bitPattern: address)
        return Bounds(low: low, high: low + UInt(size))
    }

    /// Paints the unused stack below the caller, leaving a few KiB under the current frame for the
    /// frames of this function and memset themselves.
    @inline(never)
    func paint(_ bounds: Bounds) {
        var marker: UInt8 = 0
        let current = withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
        let start = bounds.low + 256
        let end = current - 8 * 1024
        guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
        memset(pointer, Int32(Self.pattern), Int(end - start))
    }

    /// Records how far below `bounds.high` the stack has been written since it was painted.
    func record(_ bounds: Bounds) {
        var address = bounds.low + 256
        while address < bounds.high {
            guard let pointer = UnsafePointer<UInt8>(bitPattern: address), pointer.pointee == Self.pattern else { break }
            address += 1
        }
        let used = Int(bounds.high - address)
        var seen = deepest.load(ordering: .relaxed)
        while used > seen {
            let (exchanged, original) = deepest.compareExchange(expected: seen, desired: used, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }
}
