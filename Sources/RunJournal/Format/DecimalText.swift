/// Integers as decimal text written straight into a buffer: the hot output paths (SSE frames, `replay`) write
/// millions of seqs per second and must not make a `String` for each.
public enum DecimalText {
    /// Characters of `value` in decimal, the sign included.
    @inlinable
    public static func count(_ value: Int64) -> Int {
        var count = value < 0 ? 2 : 1
        var rest = value.magnitude
        while rest >= 10 {
            rest /= 10
            count += 1
        }
        return count
    }

    /// Writes `value` in decimal at `destination` (room for `count(value)` bytes) and returns that count.
    @inlinable
    @discardableResult
    public static func write(_ value: Int64, to destination: UnsafeMutableRawPointer) -> Int {
        let digits = count(value)
        var rest = value.magnitude
        var index = digits
        repeat {
            index -= 1
            destination.storeBytes(of: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10), toByteOffset: index, as: UInt8.self)
            rest /= 10
        } while rest > 0
        if value < 0 { destination.storeBytes(of: UInt8(ascii: "-"), as: UInt8.self) }
        return digits
    }
}
