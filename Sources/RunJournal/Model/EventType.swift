/// A validated event type (`^[a-z][a-z0-9_.:-]{0,63}$`), plus the lifecycle types the store gives meaning to.
///
/// Types are stored unescaped in every journal line, so the pattern also guarantees that a type never
/// needs JSON escaping and that `grep '"type":"run.failed"'` finds exactly what it should.
public struct EventType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) throws(JournalError) {
        guard EventType.isValid(rawValue) else { throw .invalidEventType(rawValue) }
        self.rawValue = rawValue
    }

    private init(trusted rawValue: String) { self.rawValue = rawValue }

    public static func isValid(_ candidate: String) -> Bool { isValid(candidate.utf8) }

    public static func isValid<Bytes: Collection>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        guard let first = bytes.first, bytes.count <= 64, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z") else {
            return false
        }
        for byte in bytes.dropFirst() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return true
    }

    public var description: String { rawValue }

    public static let created = EventType(trusted: "run.created")
    public static let started = EventType(trusted: "run.started")
    public static let waiting = EventType(trusted: "run.waiting")
    public static let stopRequested = EventType(trusted: "run.stop_requested")
    public static let completed = EventType(trusted: "run.completed")
    public static let failed = EventType(trusted: "run.failed")
    public static let stopped = EventType(trusted: "run.stopped")

    private static let lifecycleTypes: [EventType] = [.created, .started, .waiting, .stopRequested, .completed, .failed, .stopped]

    /// The lifecycle type spelled by `bytes` (a scanned line's `type`), nil for any other type. Compares bytes
    /// instead of building and re-validating an `EventType` per line: summaries, streams and the CLI call it
    /// for every line they read.
    public static func lifecycle(_ bytes: UnsafeRawBufferPointer) -> EventType? {
        guard bytes.count >= 10, bytes[0] == UInt8(ascii: "r"), bytes[1] == UInt8(ascii: "u"),
            bytes[2] == UInt8(ascii: "n"), bytes[3] == UInt8(ascii: ".")
        else { return nil }
        return lifecycleTypes.first { $0.rawValue.utf8.elementsEqual(bytes) }
    }

    /// A terminal event ends the run: nothing may be appended after it.
    public var isTerminal: Bool { self == .completed || self == .failed || self == .stopped }
}
