/// The two FastCGI records the stream loop writes itself once a stream has left libfcgi (FastCGI 1.0
/// specification, section 3.3 and 5.5): `FCGI_STDOUT` carrying response bytes, and `FCGI_END_REQUEST`.
/// Every record starts with the same 8-byte header; content is at most 65,535 bytes per record. No padding:
/// it is optional, and nginx and lighttpd accept records without it.
enum FastCGIRecords {
    static let version: UInt8 = 1
    static let stdoutType: UInt8 = 6
    static let endRequestType: UInt8 = 3
    static let headerLength = 8
    static let maxContentLength = 65535

    /// The header of an `FCGI_STDOUT` record of `contentLength` bytes (at most `maxContentLength`).
    static func stdoutHeader(requestID: UInt16, contentLength: Int) -> (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
        precondition(contentLength >= 0 && contentLength <= maxContentLength)
        return (version, stdoutType, UInt8(requestID >> 8), UInt8(requestID & 0xFF),
                UInt8(contentLength >> 8), UInt8(contentLength & 0xFF), 0, 0)
    }

    /// `bytes` as `FCGI_STDOUT` records, appended to `out` (one record per 65,535 bytes; none for no bytes:
    /// an empty STDOUT record means "end of stdout").
    static func appendStdout(_ bytes: [UInt8], requestID: UInt16, to out: inout [UInt8]) {
        var start = 0
        while start < bytes.count {
            let count = min(maxContentLength, bytes.count - start)
            let header = stdoutHeader(requestID: requestID, contentLength: count)
            out.append(contentsOf: [header.0, header.1, header.2, header.3, header.4, header.5, header.6, header.7])
            out.append(contentsOf: bytes[start..<(start + count)])
            start += count
        }
    }

    /// The end of a response: the empty `FCGI_STDOUT` record (end of stdout), then `FCGI_END_REQUEST` with
    /// application status 0 and protocol status `FCGI_REQUEST_COMPLETE`: what libfcgi's `FCGX_Finish_r`
    /// writes for a request that wrote nothing to stderr.
    static func endOfResponse(requestID: UInt16) -> [UInt8] {
        let high = UInt8(requestID >> 8), low = UInt8(requestID & 0xFF)
        return [
            version, stdoutType, high, low, 0, 0, 0, 0,
            version, endRequestType, high, low, 0, 8, 0, 0,
            0, 0, 0, 0, /* protocolStatus FCGI_REQUEST_COMPLETE */ 0, 0, 0, 0,
        ]
    }
}
