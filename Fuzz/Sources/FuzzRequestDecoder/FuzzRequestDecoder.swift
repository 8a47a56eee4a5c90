import FuzzSupport
import RunJournal
import RunsAPI
// @testable for the decoder, which is internal to the server (debug builds are built for testing).
@testable import FastCGIServer

/// The FastCGI request decoder on the parameters a web server could send, given as FCGI_PARAMS bytes and
/// turned into libfcgi's `NAME=value` environment without a socket:
/// - the parameter filter keeps exactly the decoder's names (HTTP_* and seven CGI variables), first
///   occurrence winning;
/// - a rejection is a 400 whose body is the API's JSON error shape;
/// - an accepted head has an upper-case token method, an absolute path and query without NUL, lower-case
///   header names, and CONTENT_LENGTH read as the number it spells (Int.max when too long);
/// - the head round-trips: its path and query, percent-encoded into a REQUEST_URI again, decode to the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    checkRequestDecoder(inputBytes(data, size))
    return 0
}

let decoderNames: Set<[UInt8]> = Set(
    ["REQUEST_URI", "REQUEST_METHOD", "CONTENT_LENGTH", "CONTENT_TYPE", "QUERY_STRING", "SCRIPT_NAME", "PATH_INFO"].map { Array($0.utf8) })

func checkRequestDecoder(_ input: [UInt8]) {
    let environment = FastCGIParams.environment(FastCGIParams.decode(input))

    // What the filter should keep: the first `name=value` of each decoder name. Names become Strings the
    // lenient way (invalid UTF-8 turns into U+FFFD), so two names can meet as one; the first still wins.
    var expectedParameters: [String: [UInt8]] = [:]
    for entry in environment {
        guard let equals = entry.firstIndex(of: UInt8(ascii: "=")) else { continue }
        let name = Array(entry[..<equals])
        guard decoderNames.contains(name) || (name.count > 5 && name.starts(with: Array("HTTP_".utf8))) else { continue }
        let key = String(decoding: name, as: UTF8.self)
        if expectedParameters[key] == nil { expectedParameters[key] = Array(entry[(equals + 1)...]) }
    }
    let parameters = withBuffers(environment) { RequestDecoder.parameters(fromEnvironment: $0) }
    require(parameters == expectedParameters, "filter kept \(parameters.keys.sorted()) for \(show(input))")

    switch RequestDecoder.decodeHead(parameters) {
    case .failure(let rejection):
        let response = rejection.response
        require(response.status == 400, "rejection status \(response.status)")
        guard case .bytes(let body) = response.body, body.last == 0x0A else {
            require(false, "rejection body is not bytes ending in a newline")
            return
        }
        let json = Array(body.dropLast())
        require((try? JSONCompactor.compact(json)) == json, "rejection body \(show(json)) is not compact JSON")
        require(String(decoding: json, as: UTF8.self).hasPrefix(#"{"error":{"code":"invalid_request","message":"#), "rejection body \(show(json))")
    case .success(let head):
        checkHead(head, parameters: parameters, input: input)
    }
}

func checkHead(_ head: RequestDecoder.Head, parameters: [String: [UInt8]], input: [UInt8]) {
    let method = Array(head.method.utf8)
    require(!method.isEmpty && method == parameters["REQUEST_METHOD"].map { $0.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 } },
            "method \(head.method.debugDescription) from \(show(parameters["REQUEST_METHOD"] ?? []))")
    require(head.path.utf8.first == UInt8(ascii: "/"), "path \(head.path.debugDescription) is not absolute")
    require(!head.path.utf8.contains(0), "path has a NUL")
    for item in head.query {
        require(!item.name.utf8.contains(0) && !item.value.utf8.contains(0), "query item has a NUL")
    }
    for name in head.headers.keys {
        require(!name.utf8.contains { ($0 >= 0x41 && $0 <= 0x5A) || $0 == UInt8(ascii: "_") }, "header name \(name.debugDescription)")
    }

    // CONTENT_LENGTH: all digits (or refused), the value it spells, Int.max past Int's range.
    if let length = parameters["CONTENT_LENGTH"], !length.isEmpty {
        let expected = Int(String(decoding: length, as: UTF8.self)) ?? .max
        require(head.declaredLength == expected, "declaredLength \(String(describing: head.declaredLength)) for \(show(length))")
    } else {
        require(head.declaredLength == nil, "declaredLength without CONTENT_LENGTH")
    }

    // Round trip through a fully escaped REQUEST_URI.
    var uri = percentEncoded(head.path, keepingSlash: true)
    if !head.query.isEmpty {
        uri += [UInt8(ascii: "?")]
        uri += head.query.map { percentEncoded($0.name) + [UInt8(ascii: "=")] + percentEncoded($0.value) }
            .joined(separator: [UInt8(ascii: "&")])
    }
    switch RequestDecoder.decodeHead(["REQUEST_METHOD": method, "REQUEST_URI": uri]) {
    case .success(let again):
        require(again.path == head.path && again.query == head.query, "round trip via \(show(uri)) gives \(again.path.debugDescription)")
    case .failure(let rejection):
        require(false, "round trip via \(show(uri)) refused: \(rejection.response.status) for \(show(input))")
    }
}

/// Every byte but unreserved ones (and `/` in a path) as `%XX`.
func percentEncoded(_ text: String, keepingSlash: Bool = false) -> [UInt8] {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.append(byte)
        case UInt8(ascii: "/") where keepingSlash:
            out.append(byte)
        default:
            out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
        }
    }
    return out
}

/// Calls `body` with the entries as raw buffers, as libfcgi's environment would present them.
func withBuffers<T>(_ entries: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) -> T) -> T {
    let joined = entries.flatMap { $0 }
    return joined.withUnsafeBytes { all in
        var buffers: [UnsafeRawBufferPointer] = []
        var start = 0
        for entry in entries {
            buffers.append(UnsafeRawBufferPointer(rebasing: all[start..<(start + entry.count)]))
            start += entry.count
        }
        return body(buffers)
    }
}
