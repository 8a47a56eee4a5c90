import RunsAPI

/// The CGI response head libfcgi carries to the web server: `Status: 201 Created`, the headers, a blank
/// line. Pure, so header validation is testable without a socket.
enum ResponseHead {
    /// Serialises `status` and `headers`; `contentLength` is added when given and the handler set none.
    /// Header lines with CR, LF or NUL in them (response splitting) or an invalid name are dropped and
    /// reported through `dropped`, as is a handler-supplied `Status` (the transport owns that line).
    static func serialize(
        status: Int, headers: [(name: String, value: String)], contentLength: Int?,
        dropped: (String) -> Void = { _ in }
    ) -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(128 + headers.count * 48)
        head.append(contentsOf: "Status: \(status) \(reasonPhrase(status))\r\n".utf8)
        var hasLength = false
        for (name, value) in headers {
            let lowered = name.lowercased()
            guard isValidName(name), lowered != "status", isValidValue(value) else {
                dropped(name)
                continue
            }
            if lowered == "content-length" { hasLength = true }
            head.append(contentsOf: name.utf8)
            head.append(contentsOf: ": ".utf8)
            head.append(contentsOf: value.utf8)
            head.append(contentsOf: "\r\n".utf8)
        }
        if let contentLength, !hasLength {
            head.append(contentsOf: "Content-Length: \(contentLength)\r\n".utf8)
        }
        head.append(contentsOf: "\r\n".utf8)
        return head
    }

    /// 1xx, 204 and 304 responses have no body and must not announce one.
    static func allowsBody(_ status: Int) -> Bool {
        !(100..<200).contains(status) && status != 204 && status != 304
    }

    private static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
            }
        }
    }

    private static func isValidValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }
    }
}
