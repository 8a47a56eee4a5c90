import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// When and whom a crash-loop round kills with SIGKILL, drawn from the round's seeded generator.
///
/// A kill at a purely random moment rarely lands inside a `write(2)`: it lasts well under a millisecond even
/// for thousands of events, and the kernel only stops a buffered write between folios (on ext4 these grow
/// to 2 MiB), keeping the part already copied. So about half the rounds wait the random delay, then watch
/// the journal's size and, when it grows while a victim holds the journal's `flock` (it is writing), kill
/// at once: that is how a kill tears a batch.
struct CrashKillPlan: CustomStringConvertible {
    enum Victims: String, CaseIterable {
        case responder, writers, both
    }

    enum Trigger: String {
        /// Kill when the delay has passed.
        case timer
        /// After the delay, kill when the journal grows under a victim's lock (or when `growthWatch` ends).
        case write
    }

    let victims: Victims
    let delay: Duration
    let trigger: Trigger
    static let growthWatch = Duration.seconds(2)

    init(random: inout SeededRandom) {
        victims = Victims.allCases.randomElement(using: &random)!
        delay = .milliseconds(Int.random(in: 20...350, using: &random))
        trigger = Bool.random(using: &random) ? .write : .timer
    }

    var description: String { "kill \(victims.rawValue) after \(delay) (\(trigger.rawValue))" }

    /// What the kill did.
    struct Result {
        var responderKilled = false
        var writersKilled = 0
        /// The kill came while a victim was writing (trigger `write` only).
        var duringWrite = false
    }

    /// Waits the delay, then kills per the plan. `responder` is the responder's pid (ours, not yet reaped, so
    /// the number cannot be reused meanwhile).
    func execute(journalPath: String, responder: pid_t, live: CrashWriters.LiveProcesses) async -> Result {
        try? await Task.sleep(for: delay)
        let victims = self.victims
        let kill: @Sendable () -> Result = {
            var result = Result()
            if victims != .writers {
                result.responderKilled = Glibc.kill(responder, SIGKILL) == 0
            }
            if victims != .responder { result.writersKilled = live.killAll() }
            return result
        }
        let isVictim: @Sendable (pid_t) -> Bool = { pid in
            (victims != .writers && pid == responder) || (victims != .responder && live.pids.contains(pid))
        }
        guard trigger == .write else { return kill() }
        // A thread of its own: the watch spins on fstat, which must not hold one of the few threads of
        // Swift's cooperative pool that the writers' tasks run on.
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                let fd = open(journalPath, O_RDONLY | O_CLOEXEC)
                var info = stat()
                var duringWrite = false
                if fd >= 0, fstat(fd, &info) == 0 {
                    let inode = UInt64(info.st_ino)
                    var size = info.st_size
                    let deadline = ContinuousClock.now + Self.growthWatch
                    while ContinuousClock.now < deadline {
                        guard fstat(fd, &info) == 0 else { break }
                        if info.st_size == size { continue }
                        size = info.st_size
                        if let holder = FlockHolder.pid(inode: inode), isVictim(holder) {
                            duringWrite = true
                            break
                        }
                    }
                }
                var result = kill()
                result.duringWrite = duringWrite
                if fd >= 0 { close(fd) }
                continuation.resume(returning: result)
            }
            thread.start()
        }
    }
}

/// Who holds a `flock(2)` on a file, from /proc/locks (`1: FLOCK  ADVISORY  WRITE <pid> <maj>:<min>:<inode> 0 EOF`).
enum FlockHolder {
    static func pid(inode: UInt64) -> pid_t? {
        let fd = open("/proc/locks", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        guard count > 0 else { return nil }
        let suffix = ":\(inode) "
        for line in String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n") where line.contains("FLOCK") && line.contains(suffix) {
            let fields = line.split(separator: " ")
            // "1:", "FLOCK", "ADVISORY", "WRITE", pid, device:inode, ...
            if fields.count > 5, fields[3] == "WRITE", fields[5].hasSuffix(suffix.dropLast()), let pid = pid_t(fields[4]) { return pid }
        }
        return nil
    }
}
