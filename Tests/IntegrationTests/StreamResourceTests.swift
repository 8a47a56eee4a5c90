import Foundation
import Testing

/// What open streams cost the responder, observed from outside through /proc: one inotify instance for
/// the whole process, and no journal reads while streams sit idle (the tailer pushes, nobody polls).
@Suite("Stream: inotify instances and idle reads")
struct StreamResourceTests {
    @Test("the responder holds exactly one inotify instance with 20 streams on 20 runs open")
    func holdsOneInotifyInstance() async throws {
        let stack = try E2EStack(["--idle-timeout", "off"], kinds: [.nginx])
        let api = stack.client(.nginx)
        var streams: [E2EConnection] = []
        for index in 0..<20 {
            let run = try await api.createRun(id: "inotify-\(index)")
            streams.append(try api.stream(run))
        }
        let open = await E2EConnection.pumpAll(streams, timeout: .seconds(30)) { $0.allSatisfy { $0.events.count == 1 } }
        try #require(open)
        let inotify = E2EProc.descriptorTargets(stack.pid).filter { $0 == "anon_inode:inotify" }
        #expect(inotify.count == 1, "inotify instances: \(inotify.count); descriptors: \(E2EProc.descriptorTargets(stack.pid).sorted())")
        // They are live followers, not just open connections.
        for index in streams.indices { try await api.append("inotify-\(index)", "step") }
        let followed = await E2EConnection.pumpAll(streams, timeout: .seconds(30)) { $0.allSatisfy { $0.events.count == 2 } }
        #expect(followed)
        #expect(E2EProc.descriptorTargets(stack.pid).filter { $0 == "anon_inode:inotify" }.count == 1)
    }

    /// How "no polling" is measured, from outside and without slowing the responder down (strace would,
    /// and is not always permitted by the ptrace scope):
    /// - /proc/PID/io `syscr` counts the read(2)-family system calls of all the responder's threads (read,
    ///   pread, readv; not epoll or inotify waits while nothing happens). A stream or tailer that re-read
    ///   its journal would add hundreds in 10 s; push adds none. `rchar` (bytes read) must stay small too.
    /// - Context switches of all threads (/proc/PID/task/*/status) count wake-ups. A poller that only
    ///   `stat`s the file (no reads) still wakes on every tick: `--tailer poll` at its default 250 ms makes
    ///   about 40 in 10 s, the inotify tailer none (heartbeats are 60 s apart, sweeps an hour).
    /// Both bounds leave room for a little noise without letting a single poller through.
    @Test("100 idle streams cause no journal reads over 10 s")
    func idleStreamsDoNotRead() async throws {
        let stack = try E2EStack(["--heartbeat", "60", "--idle-timeout", "off", "--sweep-interval", "3600"], kinds: [.nginx])
        let api = stack.client(.nginx)
        var streams: [E2EConnection] = []
        for index in 0..<10 {
            let run = try await api.createRun(id: "idle-\(index)")
            try await api.append(run, "run.started", #"{"padding":"\#(String(repeating: "x", count: 2000))"}"#)
            streams += try (0..<10).map { _ in try api.stream(run) }
        }
        let open = await E2EConnection.pumpAll(streams, timeout: .seconds(60)) { $0.allSatisfy { $0.events.count == 2 } }
        try #require(open, "\(streams.filter { $0.events.count < 2 }.count) streams did not replay")
        try await Task.sleep(for: .seconds(1))  // let the last replays' bookkeeping finish

        let switchesBefore = E2EProc.contextSwitches(stack.pid)
        let before = E2EProc.io(stack.pid)
        try #require(before["syscr"] != nil, "/proc/\(stack.pid)/io is not readable here")
        try await Task.sleep(for: .seconds(10))
        let after = E2EProc.io(stack.pid)
        let wakeups = E2EProc.contextSwitches(stack.pid) - switchesBefore
        let reads = (after["syscr"] ?? 0) - (before["syscr"] ?? 0)
        let bytes = (after["rchar"] ?? 0) - (before["rchar"] ?? 0)
        #expect(reads < 50, "\(reads) read syscalls in 10 s with 100 idle streams")
        #expect(bytes < 16 * 1024, "\(bytes) bytes read in 10 s with 100 idle streams")
        if SanitizerRun.name == "thread" {
            // ThreadSanitizer's runtime runs a housekeeping thread in every process that wakes about ten times
            // a second; it would be counted here as a poller. The read bounds above still hold under it.
            SanitizerRun.note("idle streams", skipped: "wake-ups not checked (\(wakeups) in 10 s, the sanitizer's own thread included)")
        } else {
            #expect(wakeups < 20, "the responder's threads woke \(wakeups) times in 10 s with 100 idle streams")
        }

        // Still live, and still pushed to: one append reaches every stream.
        for stream in streams { stream.pump() }
        #expect(streams.allSatisfy { !$0.ended })
        try await api.append("idle-3", "step")
        let pushed = await E2EConnection.pumpAll(Array(streams[30..<40]), timeout: .seconds(20)) { $0.allSatisfy { $0.events.count == 3 } }
        #expect(pushed)
    }
}
