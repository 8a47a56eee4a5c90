import SystemSupport

/// Reads `[start, start + count)` into a new array with as many `pread` calls as it takes, stopping early at
/// end of file (the file may have shrunk since it was measured). `onRead` is called once per `pread`.
func readRange(fd: Int32, start: Int64, count: Int, onRead: () -> Void) throws(SystemError) -> [UInt8] {
    guard count > 0 else { return [] }
    var bytes = [UInt8](repeating: 0, count: count)
    var failure: SystemError?
    let filled = bytes.withUnsafeMutableBytes { buffer -> Int in
        do throws(SystemError) {
            return try Sys.preadFully(fd, into: buffer, at: start, onRead: onRead)
        } catch {
            failure = error
            return 0
        }
    }
    if let failure { throw failure }
    if filled < count { bytes.removeSubrange(filled...) }
    return bytes
}
