#if canImport(Glibc)
import Glibc
#endif

/// Fails the fuzz run when a property does not hold: prints what broke and aborts, which libFuzzer reports
/// as a crash and saves the input as `crash-*`. A plain crash only proves memory safety; these checks are
/// what make a target find wrong answers.
public func require(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    guard !condition() else { return }
    let text = "property failed at \(file):\(line): \(message())\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress!, $0.count - 1) }
    abort()
}

/// `bytes` as a readable literal for failure messages: printable ASCII as is, everything else `\xNN`.
public func show(_ bytes: some Sequence<UInt8>, limit: Int = 300) -> String {
    var text = ""
    for (index, byte) in bytes.enumerated() {
        if index == limit { text += "…"; break }
        if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") {
            text.append(Character(Unicode.Scalar(byte)))
        } else {
            let digits = Array("0123456789abcdef")
            text += "\\x\(digits[Int(byte >> 4)])\(digits[Int(byte & 0xF)])"
        }
    }
    return "\"" + text + "\""
}

/// The fuzzer's input as an array (libFuzzer may pass a null pointer for the empty input).
public func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}
