import Foundation
import Testing
import SystemSupport

@Suite("Sys")
struct SyscallsTests {
    private let directory: String = {
        let path = NSTemporaryDirectory() + "rj-sys-\(UUID().uuidString)"
        mkdir(path, 0o700)
        return path
    }()

    private func removeDirectory() { try? FileManager.default.removeItem(atPath: directory) }

    @Test("a file that is a symbolic link is refused, a directory that is one is followed")
    func refusesSymbolicLinksToFiles() throws {
        defer { removeDirectory() }
        let target = directory + "/target"
        let fd = try Sys.createFile(target, mode: 0o600)
        Sys.close(fd)
        symlink(target, directory + "/link")
        #expect(throws: SystemError(operation: "open (symbolic links are refused)", path: directory + "/link", errno: ELOOP)) {
            try Sys.open(directory + "/link", O_RDONLY)
        }
        symlink(directory, directory + "/dirlink")
        let dirFD = try Sys.open(directory + "/dirlink", O_RDONLY | O_DIRECTORY)
        Sys.close(dirFD)
    }

    @Test("createFile sets exactly the mode asked for, whatever the umask")
    func createFileMode() throws {
        defer { removeDirectory() }
        let old = umask(0o077)
        defer { umask(old) }
        let fd = try Sys.createFile(directory + "/f", mode: 0o644)
        defer { Sys.close(fd) }
        #expect(try Sys.fstat(fd).permissions == 0o644)
        #expect(try Sys.stat(directory + "/f").isRegularFile)
    }

    @Test("preadFully reads to the end of the file and stops there; statIfExists answers nil for a missing file")
    func readsAndStats() throws {
        defer { removeDirectory() }
        let path = directory + "/data"
        let fd = try Sys.createFile(path, O_RDWR, mode: 0o600)
        defer { Sys.close(fd) }
        try Array("0123456789".utf8).withUnsafeBytes { try Sys.writeAll(fd, $0, path: path) }
        var buffer = [UInt8](repeating: 0, count: 8)
        var reads = 0
        let count = try buffer.withUnsafeMutableBytes { try Sys.preadFully(fd, into: $0, at: 4, path: path, onRead: { reads += 1 }) }
        #expect(count == 6)
        #expect(String(decoding: buffer[..<count], as: UTF8.self) == "456789")
        #expect(reads == 2)  // one read that returns the six bytes, one that finds the end
        #expect(try Sys.statIfExists(directory + "/missing") == nil)
        #expect(try Sys.statIfExists(path)?.size == 10)
        #expect(try Sys.listDirectory(directory) == ["data"])
    }

    @Test("a failure names the operation, the path and the errno")
    func failuresCarryTheirMeaning() {
        #expect(throws: SystemError(operation: "open", path: directory + "/none", errno: ENOENT)) {
            try Sys.open(directory + "/none", O_RDONLY)
        }
        #expect(throws: SystemError(operation: "stat", path: directory + "/none", errno: ENOENT)) {
            try Sys.stat(directory + "/none")
        }
        removeDirectory()
    }
}
