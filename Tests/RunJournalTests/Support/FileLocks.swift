import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Whether someone is blocked waiting for a `flock` on `path`'s inode, as the kernel reports it in
/// `/proc/locks` (a waiter's line has `->` before its lock type). How a test knows, without sleeping, that
/// the code under test has reached the lock the test holds.
func someoneWaitsForFlock(on path: String) -> Bool {
    var info = stat()
    guard stat(path, &info) == 0 else { return false }
    let inode = ":\(info.st_ino) "
    let locks = (try? String(contentsOfFile: "/proc/locks", encoding: .utf8)) ?? ""
    return locks.split(separator: "\n").contains { $0.contains("-> FLOCK") && $0.contains(inode) }
}

/// Polls `condition` until it holds or `timeout` passes (generous: a shared, loaded machine).
func waitUntil(timeout: Duration = .seconds(60), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(2_000)
    }
    return condition()
}
