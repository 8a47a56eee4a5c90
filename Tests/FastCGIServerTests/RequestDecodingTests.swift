import Testing
import RunsAPI
@testable import FastCGIServer

/// The decoding rules on their own, from the parameters nginx's stock fastcgi_params would send.
@Suite struct RequestDecodingTests {
    private func parameters(uri: String, method: String = "GET", extra: [String: String] = [:]) -> [String: [UInt8]] {
        var result: [String: [UInt8]] = ["REQUEST_METHOD": Array(method.utf8), "REQUEST_URI": Array(uri.utf8)]
        for (name, value) in extra { result[name] = Array(value.utf8) }
        return result
    }

    private func head(_ parameters: [String: [UInt8]]) throws -> RequestDecoder.Head {
        try RequestDecoder.decodeHead(parameters).get()
    }

    private func rejection(_ parameters: [String: [UInt8]]) -> HTTPResponse? {
        guard case .failure(let rejection) = RequestDecoder.decodeHead(parameters) else { return nil }
        return rejection.response
    }

    @Test func percentDecodesThePathExactlyOnce() throws {
        #expect(try head(parameters(uri: "/v1/runs/a%2520b")).path == "/v1/runs/a%20b")
        #expect(try head(parameters(uri: "/v1/runs/r%C3%A9sum%C3%A9/events")).path == "/v1/runs/résumé/events")
    }

    @Test func splitsTheQueryOffThePathAtTheFirstQuestionMark() throws {
        let decoded = try head(parameters(uri: "/v1/runs?after=a?b&limit=10"))
        #expect(decoded.path == "/v1/runs")
        #expect(decoded.query == [.init(name: "after", value: "a?b"), .init(name: "limit", value: "10")])
    }

    @Test func decodesQueryPlusAsSpaceAndEscapedPlusAsPlus() throws {
        let decoded = try head(parameters(uri: "/x?q=a+b&p=%2B1&flag&empty=&&k%20x=v%26w"))
        #expect(decoded.query == [
            .init(name: "q", value: "a b"), .init(name: "p", value: "+1"), .init(name: "flag", value: ""),
            .init(name: "empty", value: ""), .init(name: "k x", value: "v&w"),
        ])
    }

    @Test func keepsPlusInThePathLiteral() throws {
        #expect(try head(parameters(uri: "/v1/runs/a+b")).path == "/v1/runs/a+b")
    }

    @Test(arguments: ["/v1/runs/%zz", "/v1/runs/%4", "/v1/runs/%", "/v1/runs/%G0"])
    func rejectsInvalidPercentEscapesInThePath(uri: String) throws {
        let response = try #require(rejection(parameters(uri: uri)))
        #expect(response.status == 400)
        #expect(String(decoding: bodyBytes(response), as: UTF8.self).contains("\"code\":\"invalid_request\""))
    }

    @Test(arguments: ["/v1/runs/a%00b", "/v1/runs/%FF", "/v1/runs/%C3%28", "/v1/runs/%ED%A0%80"])
    func rejectsNulAndInvalidUTF8AfterDecoding(uri: String) throws {
        #expect(rejection(parameters(uri: uri))?.status == 400)
    }

    @Test func rejectsInvalidEscapesAndUTF8InTheQuery() {
        #expect(rejection(parameters(uri: "/x?a=%zz"))?.status == 400)
        #expect(rejection(parameters(uri: "/x?a=%FF"))?.status == 400)
        #expect(rejection(parameters(uri: "/x?a=%00"))?.status == 400)
    }

    @Test func rejectsTargetsThatAreNotAbsolutePathsAndMissingMethods() {
        #expect(rejection(parameters(uri: "*", method: "OPTIONS"))?.status == 400)
        #expect(rejection(["REQUEST_URI": Array("/x".utf8)])?.status == 400)
        #expect(rejection(parameters(uri: "/x", method: "GE T"))?.status == 400)
    }

    @Test func acceptsAbsoluteFormRequestTargets() throws {
        #expect(try head(parameters(uri: "http://example.com/v1/runs?x=1")).path == "/v1/runs")
        #expect(try head(parameters(uri: "HTTPS://example.com")).path == "/")
        #expect(try head(parameters(uri: "http://example.com?x=1")).query == [.init(name: "x", value: "1")])
    }

    @Test func mapsCGIHeaderParametersToLowerCaseDashedNames() throws {
        let decoded = try head(parameters(uri: "/x", method: "POST", extra: [
            "HTTP_LAST_EVENT_ID": "42", "HTTP_X_REQUEST_ID": "abc", "CONTENT_TYPE": "application/json; charset=utf-8",
            "CONTENT_LENGTH": "17", "HTTP_HOST": "localhost", "SERVER_NAME": "localhost",
        ]))
        #expect(decoded.headers["last-event-id"] == "42")
        #expect(decoded.headers["x-request-id"] == "abc")
        #expect(decoded.headers["content-type"] == "application/json; charset=utf-8")
        #expect(decoded.headers["content-length"] == "17")
        #expect(decoded.headers["host"] == "localhost")
        #expect(decoded.headers["server-name"] == nil)
        #expect(decoded.declaredLength == 17)
        #expect(decoded.method == "POST")
    }

    @Test func treatsAnEmptyContentLengthAsUndeclaredAndRejectsGarbage() throws {
        #expect(try head(parameters(uri: "/x", extra: ["CONTENT_LENGTH": ""])).declaredLength == nil)
        #expect(rejection(parameters(uri: "/x", extra: ["CONTENT_LENGTH": "12a"]))?.status == 400)
        #expect(try head(parameters(uri: "/x", extra: ["CONTENT_LENGTH": "99999999999999999999999"])).declaredLength == .max)
    }

    @Test func fallsBackToScriptNameAndPathInfoWithoutRequestURI() throws {
        let decoded = try head([
            "REQUEST_METHOD": Array("GET".utf8), "SCRIPT_NAME": Array("/v1".utf8), "PATH_INFO": Array("/runs/a b".utf8),
            "QUERY_STRING": Array("x=1".utf8),
        ])
        #expect(decoded.path == "/v1/runs/a b")
        #expect(decoded.query == [.init(name: "x", value: "1")])
    }

    @Test func picksTheDecodersParametersFromTheEnvironmentFirstOccurrenceWinning() {
        let entries = [
            "HTTP_HOST=first", "SERVER_NAME=localhost", "REQUEST_METHOD=GET", "HTTP_HOST=second", "NOEQUALS",
            "HTTP_=empty-suffix", "REQUEST_URI=/a=b", "DOCUMENT_ROOT=/srv", "CONTENT_LENGTH=", "PATH_INFO=/p",
        ].map { Array($0.utf8) }
        let picked = entries.withBuffers { RequestDecoder.parameters(fromEnvironment: $0) }
        #expect(picked == [
            "HTTP_HOST": Array("first".utf8), "REQUEST_METHOD": Array("GET".utf8), "REQUEST_URI": Array("/a=b".utf8),
            "CONTENT_LENGTH": [], "PATH_INFO": Array("/p".utf8),
        ])
    }

    private func bodyBytes(_ response: HTTPResponse) -> [UInt8] {
        if case .bytes(let bytes) = response.body { return bytes }
        return []
    }
}

/// The CGI response head written before every body.
@Suite struct ResponseHeadTests {
    @Test func writesTheStatusLineHeadersAndContentLength() {
        let head = ResponseHead.serialize(status: 201, headers: [("Content-Type", "application/json")], contentLength: 12)
        #expect(String(decoding: head, as: UTF8.self) == "Status: 201 Created\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n")
    }

    @Test func keepsAHandlerSuppliedContentLength() {
        let head = ResponseHead.serialize(status: 200, headers: [("content-length", "3")], contentLength: 3)
        #expect(String(decoding: head, as: UTF8.self) == "Status: 200 OK\r\ncontent-length: 3\r\n\r\n")
    }

    @Test func dropsHeadersThatWouldSplitTheResponse() {
        var dropped: [String] = []
        let head = ResponseHead.serialize(
            status: 200, headers: [("X-Evil", "a\r\nSet-Cookie: x=1"), ("Bad Name", "v"), ("Status", "500"), ("X-Ok", "1")],
            contentLength: nil, dropped: { dropped.append($0) })
        #expect(String(decoding: head, as: UTF8.self) == "Status: 200 OK\r\nX-Ok: 1\r\n\r\n")
        #expect(dropped == ["X-Evil", "Bad Name", "Status"])
    }

    @Test func noBodyStatusesGetNoContentLength() {
        #expect(!ResponseHead.allowsBody(204))
        #expect(!ResponseHead.allowsBody(304))
        #expect(ResponseHead.allowsBody(200))
    }
}

private extension Array where Element == [UInt8] {
    /// Calls `body` with each entry as a raw buffer, as libfcgi's environment presents them.
    func withBuffers<T>(_ body: ([UnsafeRawBufferPointer]) -> T) -> T {
        let joined = flatMap { $0 }
        return joined.withUnsafeBytes { all in
            var buffers: [UnsafeRawBufferPointer] = []
            var start = 0
            for entry in self {
                buffers.append(UnsafeRawBufferPointer(rebasing: all[start..<(start + entry.count)]))
                start += entry.count
            }
            return body(buffers)
        }
    }
}
