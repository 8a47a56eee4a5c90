import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `runjournal exec` on a disk that fills while the command runs (a real ext4 on a loop device, see
/// LoopFilesystem): the command keeps running, exec says so once on stderr, holds a bounded amount of
/// output (dropping the oldest), writes what it held once there is room again, and counts the dropped
/// lines in the terminal event.
@Suite("exec on a full disk", .serialized,
       .enabled(if: DiskFaultEnvironment.isAvailable, Comment(rawValue: DiskFaultEnvironment.unavailableReason ?? "")))
struct ExecDiskFullTests {
    @Test func theCommandKeepsRunningAndDroppedLinesAreCounted() throws {
        let disk = try LoopFilesystem(imageMiB: 16, backing: .directory)
        defer { disk.destroy() }
        let journal = disk.mountPoint + "/journal"
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: false)
        let scratch = try TemporaryDirectory(prefix: "exec-full")
        try disk.fillFilesystem(leavingKiB: 768)

        // 12,000 lines of 1,000 bytes (12 MB, more than exec holds back), then wait for the go-ahead.
        let lines = 12_000
        let script = """
            i=0; while [ $i -lt \(lines) ]; do printf '%01000d\\n' $i; i=$((i+1)); done
            touch \(scratch.file("printed")); while [ ! -e \(scratch.file("go")) ]; do sleep 0.05; done; echo last
            """
        let exec = try ChildProcess(
            executable: try TestPaths.runjournalBinary(),
            arguments: ["exec", "--journal", journal, "--id", "full", "--", "sh", "-c", script],
            environment: OpsCLI.environment(), stderr: .file(scratch.file("stderr")))
        let deadline = ContinuousClock.now + .seconds(120)
        while access(scratch.file("printed"), F_OK) != 0 && exec.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        let stderrWhileFull = (try? String(contentsOfFile: scratch.file("stderr"), encoding: .utf8)) ?? ""
        #expect(stderrWhileFull.contains("cannot append to run full"), "\(stderrWhileFull)")
        #expect(exec.isRunning)

        disk.releaseFilesystemSpace()
        _ = creat(scratch.file("go"), 0o644)
        let status = exec.wait(timeout: .seconds(120))
        #expect(status.flatMap(ChildProcess.exitCode) == 0)
        let stderr = (try? String(contentsOfFile: scratch.file("stderr"), encoding: .utf8)) ?? ""
        #expect(stderr.components(separatedBy: "cannot append").count == 2, "reported once: \(stderr)")

        let events = ExecCommandTests.events(journal, "full")
        let last = events.last
        #expect(last?["type"] as? String == "run.completed", "\(last ?? [:])")
        let dropped = ExecCommandTests.data(last)["dropped_lines"] as? Int ?? 0
        let written = events.filter { $0["type"] as? String == "stdout" }
        #expect(dropped > 0)
        #expect(written.count + dropped == lines + 1, "written \(written.count), dropped \(dropped)")
        // The oldest were dropped, the newest kept.
        #expect(ExecCommandTests.data(written.last)["line"] as? String == "last")
    }
}
