/// An event to append: a type and its `data` as compact, validated JSON.
public struct NewEvent: Sendable {
    public let type: EventType
    public let data: [UInt8]

    /// Validates and compacts `json` (any JSON value) as the event's data.
    public init(type: EventType, json: some Collection<UInt8>) throws {
        self.type = type
        self.data = try JSONCompactor.compact(Array(json))
    }

    /// `compactData` must already be the output of `JSONCompactor` (or of `JSONWriter`): it is stored as is.
    public init(type: EventType, compactData: [UInt8]) {
        self.type = type
        self.data = compactData
    }
}
