#if canImport(Glibc)
import Glibc
#endif

/// The tokens file (`--auth-tokens FILE`, `auth.tokens_file`): one token per line,
/// `NAME SCOPES SHA256 [RUN-PATTERN]`, fields separated by spaces or tabs, `#` starting a comment.
///
/// ```
/// # name      scopes       sha256 of the secret                                              runs
/// ci          write        5f1d...c3a9                                                       acme-*
/// dashboard   read         9b0e...11fe
/// ops         admin        0c4a...77d2
/// ```
///
/// Parsing is strict: a line that is not exactly that (an unknown scope, a digest that is not 64 hex digits,
/// a pattern no run id can match, a duplicate name or secret) is an error naming the file and the line, so
/// a typo never silently locks someone out or lets someone in.
public enum TokensFile {
    /// A tokens file that cannot be used, with the place of the first problem.
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let path: String
        /// 1-based; nil when the file itself cannot be read.
        public let line: Int?
        public let message: String

        public var description: String {
            if let line { return "tokens file \(path) line \(line): \(message)" }
            return "tokens file \(path): \(message)"
        }
    }

    /// Reads and parses the file at `path`.
    public static func load(path: String) throws(Problem) -> [AccessToken] {
        guard let text = readFile(path) else {
            throw Problem(path: path, line: nil, message: "cannot read it (\(String(cString: strerror(errno))))")
        }
        return try parse(text, path: path)
    }

    /// Parses the text of a tokens file (`path` only names it in errors).
    public static func parse(_ text: String, path: String) throws(Problem) -> [AccessToken] {
        var tokens: [AccessToken] = []
        var names: [String: Int] = [:]
        var digests: [[UInt8]: Int] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            func problem(_ message: String) -> Problem { Problem(path: path, line: number, message: message) }
            let content = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            if fields.isEmpty { continue }
            guard fields.count == 3 || fields.count == 4 else {
                throw problem("expected NAME SCOPES SHA256 [RUN-PATTERN], got \(fields.count) fields")
            }
            let name = fields[0]
            guard isValidName(name) else {
                throw problem("the name must be 1 to 64 letters, digits, '.', '_', '-' or '@'")
            }
            guard let scope = AccessScope.strongest(of: fields[1]) else {
                throw problem("scopes must be a comma-separated list of read, write, admin (got \"\(fields[1].prefix(40))\")")
            }
            guard let digest = decodeHexDigest(fields[2]) else {
                throw problem("the third field must be the SHA-256 of the secret: 64 hexadecimal digits")
            }
            var runs: RunPattern?
            if fields.count == 4 {
                guard let pattern = RunPattern(fields[3]) else {
                    throw problem(
                        "the run pattern must be a run id or a run id prefix followed by '*' (got \"\(fields[3].prefix(70))\")")
                }
                runs = pattern
            }
            if let first = names[name] { throw problem("the name \(name) is already used on line \(first)") }
            if let first = digests[digest] { throw problem("the same secret is already used on line \(first)") }
            names[name] = number
            digests[digest] = number
            tokens.append(AccessToken(name: name, scope: scope, secretDigest: digest, runs: runs))
        }
        return tokens
    }

    /// Whether `name` is a valid token name (for `runjournal token new`).
    public static func parseName(_ name: String) -> Bool { isValidName(name) }

    static func isValidName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 64 else { return false }
        return bytes.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "@")
        }
    }

    static func decodeHexDigest(_ text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        guard bytes.count == 64 else { return nil }
        var digest: [UInt8] = []
        digest.reserveCapacity(32)
        var index = 0
        while index < 64 {
            guard let high = hexValue(bytes[index]), let low = hexValue(bytes[index + 1]) else { return nil }
            digest.append(high << 4 | low)
            index += 2
        }
        return digest
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The whole file, or nil with errno set. Small files only (a tokens file, a signing key).
    static func readFile(_ path: String) -> String? {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    static func readBytes(_ path: String, limit: Int = 16 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
            if bytes.count > limit {
                errno = EFBIG
                return nil
            }
        }
    }
}
