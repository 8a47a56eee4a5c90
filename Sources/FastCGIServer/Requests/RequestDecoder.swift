#if canImport(Glibc)
import Glibc
#endif
import RunsAPI

/// Turns the CGI-style parameters a web server sends (nginx's stock `fastcgi_params`, lighttpd's default
/// environment) into the parts of an `HTTPRequest`. Pure and libfcgi-free, so every decoding rule is
/// testable without a socket. A request that cannot be decoded becomes a 400 in the API's JSON error
/// shape and never reaches the handler.
enum RequestDecoder {
    /// Everything but the body, which is read afterwards within the size limit.
    struct Head: Equatable {
        var method: String
        var path: String
        var query: [QueryItem]
        var headers: [String: String]
        /// CONTENT_LENGTH, if the web server sent a non-empty one. `Int.max` stands for "larger than
        /// any limit" (too many digits to represent).
        var declaredLength: Int?

        var queryPairs: [(name: String, value: String)] { query.map { ($0.name, $0.value) } }
    }

    struct QueryItem: Equatable {
        var name: String
        var value: String
    }

    /// The parameters `decodeHead` reads (the request line's parts, CONTENT_TYPE and CONTENT_LENGTH, and the
    /// HTTP_* headers) from a request's `NAME=value` environment entries as libfcgi builds them, first
    /// occurrence of each name winning (as `FCGX_GetParam` would): nginx's stock fastcgi_params sets HTTP_HOST
    /// itself and the Host header repeats it. The other CGI variables (a dozen, from nginx's fastcgi_params)
    /// are skipped before any String is made: this runs for every request. Separate from the libfcgi
    /// wrapper so it can be driven with plain bytes.
    static func parameters(fromEnvironment entries: [UnsafeRawBufferPointer]) -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        result.reserveCapacity(16)
        for bytes in entries {
            guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")),
                  isDecoderParameter(UnsafeRawBufferPointer(rebasing: bytes[..<equals]))
            else { continue }
            let name = String(decoding: bytes[..<equals], as: UTF8.self)
            if result[name] == nil {
                result[name] = Array(bytes[(equals + 1)...])
            }
        }
        return result
    }

    /// HTTP_* or one of the CGI variables `decodeHead` uses, judged on the bytes of the name.
    private static func isDecoderParameter(_ name: UnsafeRawBufferPointer) -> Bool {
        func equals(_ literal: StaticString) -> Bool {
            name.count == literal.utf8CodeUnitCount && memcmp(name.baseAddress!, literal.utf8Start, name.count) == 0
        }
        if name.count > 5 && memcmp(name.baseAddress!, ("HTTP_" as StaticString).utf8Start, 5) == 0 { return true }
        return equals("REQUEST_URI") || equals("REQUEST_METHOD") || equals("CONTENT_LENGTH") || equals("CONTENT_TYPE")
            || equals("QUERY_STRING") || equals("SCRIPT_NAME") || equals("PATH_INFO")
    }

    static func decodeHead(_ parameters: [String: [UInt8]]) -> Result<Head, Rejection> {
        guard let methodBytes = parameters["REQUEST_METHOD"], !methodBytes.isEmpty,
              methodBytes.allSatisfy(isTokenByte)
        else {
            return .failure(invalid("the request has no valid REQUEST_METHOD"))
        }
        let method = String(decoding: methodBytes, as: UTF8.self).uppercased()

        let path: String
        let rawQuery: ArraySlice<UInt8>
        if let uri = parameters["REQUEST_URI"], !uri.isEmpty {
            let target = stripAbsoluteForm(uri[...])
            let questionMark = target.firstIndex(of: UInt8(ascii: "?"))
            let rawPath = target[..<(questionMark ?? target.endIndex)]
            rawQuery = questionMark.map { target[($0 + 1)...] } ?? []
            guard rawPath.first == UInt8(ascii: "/") else {
                return .failure(invalid("the request target must be an absolute path"))
            }
            switch decodePath(rawPath) {
            case .success(let decoded): path = decoded
            case .failure(let error): return .failure(error)
            }
        } else {
            // Not from the stock configs (both send REQUEST_URI); a hand-written one may only send the
            // CGI variables, whose SCRIPT_NAME/PATH_INFO the web server has already decoded.
            let decoded = (parameters["SCRIPT_NAME"] ?? []) + (parameters["PATH_INFO"] ?? [])
            guard decoded.first == UInt8(ascii: "/"), let string = validText(decoded[...]) else {
                return .failure(invalid("the request has no valid REQUEST_URI"))
            }
            path = string
            rawQuery = (parameters["QUERY_STRING"] ?? [])[...]
        }

        let query: [QueryItem]
        switch decodeQuery(rawQuery) {
        case .success(let items): query = items
        case .failure(let error): return .failure(error)
        }

        var headers: [String: String] = [:]
        headers.reserveCapacity(parameters.count)
        for (name, value) in parameters {
            if name.utf8.count > 5, name.hasPrefix("HTTP_") {
                headers[headerName(name.dropFirst(5))] = String(decoding: value, as: UTF8.self)
            }
        }
        // CGI carries these two without the HTTP_ prefix; they win over any HTTP_CONTENT_* duplicate.
        if let type = parameters["CONTENT_TYPE"], !type.isEmpty {
            headers["content-type"] = String(decoding: type, as: UTF8.self)
        }
        var declaredLength: Int?
        if let length = parameters["CONTENT_LENGTH"], !length.isEmpty {
            guard length.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                return .failure(invalid("CONTENT_LENGTH is not a number"))
            }
            var value = 0
            for digit in length {
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (plus, overflow2) = times.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
                if overflow1 || overflow2 {
                    value = .max
                    break
                }
                value = plus
            }
            declaredLength = value
            headers["content-length"] = String(decoding: length, as: UTF8.self)
        }

        return .success(Head(method: method, path: path, query: query, headers: headers, declaredLength: declaredLength))
    }

    /// Percent-decodes the path once, then requires well-formed escapes, no NUL and valid UTF-8.
    static func decodePath(_ raw: ArraySlice<UInt8>) -> Result<String, Rejection> {
        guard let bytes = percentDecode(raw, plusIsSpace: false) else {
            return .failure(invalid("the request path contains an invalid percent-escape"))
        }
        guard let text = validText(bytes[...]) else {
            return .failure(invalid("the request path is not valid UTF-8 or contains NUL"))
        }
        return .success(text)
    }

    /// `a=1&b=x+y&c` → [(a, 1), (b, "x y"), (c, "")]; `+` is a space, `%2B` a plus; empty pieces skipped.
    static func decodeQuery(_ raw: ArraySlice<UInt8>) -> Result<[QueryItem], Rejection> {
        var items: [QueryItem] = []
        for piece in raw.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = piece.firstIndex(of: UInt8(ascii: "="))
            let rawName = piece[..<(equals ?? piece.endIndex)]
            let rawValue = equals.map { piece[($0 + 1)...] } ?? []
            guard let name = percentDecode(rawName, plusIsSpace: true), let value = percentDecode(rawValue, plusIsSpace: true) else {
                return .failure(invalid("the query string contains an invalid percent-escape"))
            }
            guard let nameText = validText(name[...]), let valueText = validText(value[...]) else {
                return .failure(invalid("the query string is not valid UTF-8 or contains NUL"))
            }
            items.append(QueryItem(name: nameText, value: valueText))
        }
        return .success(items)
    }

    /// Nil on a `%` not followed by two hex digits.
    static func percentDecode(_ raw: ArraySlice<UInt8>, plusIsSpace: Bool) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index < raw.endIndex {
            let byte = raw[index]
            if byte == UInt8(ascii: "%") {
                guard raw.endIndex - index >= 3, let high = hexValue(raw[index + 1]), let low = hexValue(raw[index + 2]) else {
                    return nil
                }
                result.append(high << 4 | low)
                index += 3
            } else {
                result.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        return result
    }

    /// `LAST_EVENT_ID` → `last-event-id`.
    static func headerName(_ cgiName: Substring) -> String {
        // Byte by byte: CGI names are ASCII (the web server made them from header names), and this runs
        // for every header of every request.
        String(decoding: cgiName.utf8.map { byte -> UInt8 in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte | 0x20
            case UInt8(ascii: "_"): return UInt8(ascii: "-")
            default: return byte
            }
        }, as: UTF8.self)
    }

    private static func stripAbsoluteForm(_ uri: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        // HTTP/1.1 allows `GET http://host/path`; nginx passes $request_uri as the client sent it.
        let lowered = uri.prefix(8).map { $0 | 0x20 }
        let schemeLength: Int
        if lowered.starts(with: Array("http://".utf8)) {
            schemeLength = 7
        } else if lowered.starts(with: Array("https://".utf8)) {
            schemeLength = 8
        } else {
            return uri
        }
        let authorityStart = uri.startIndex + schemeLength
        guard let slash = uri[authorityStart...].firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }) else {
            return Array("/".utf8)[...]
        }
        if uri[slash] == UInt8(ascii: "?") { return (Array("/".utf8) + uri[slash...])[...] }
        return uri[slash...]
    }

    private static func validText(_ bytes: ArraySlice<UInt8>) -> String? {
        guard !bytes.contains(0) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// A request answered with an error instead of reaching the handler.
    struct Rejection: Error {
        let response: HTTPResponse
    }

    static func invalid(_ message: String) -> Rejection {
        Rejection(response: badRequest(message))
    }

    static func badRequest(_ message: String) -> HTTPResponse {
        .error(400, code: "invalid_request", message: message)
    }
}
