import Foundation
import Testing

/// The shipped systemd units (deploy/systemd) pass `systemd-analyze verify` with the built binary in place
/// of /usr/local/bin/runjournal, and carry the hardening the operations docs promise.
@Suite("Deploy: systemd units")
struct SystemdUnitTests {
    static let units = ["runjournal.service", "runjournal.socket", "runjournal-prune.service", "runjournal-prune.timer"]

    @Test("systemd-analyze verify accepts every shipped unit")
    func unitsVerify() throws {
        let analyze = try #require(ChildProcess.find("systemd-analyze"), "systemd-analyze is not installed (deploy/scripts/install-deps.sh --test)")
        let directory = try TemporaryDirectory(prefix: "units")
        let binary = try TestPaths.runjournalBinary()
        for unit in Self.units {
            let text = try String(contentsOfFile: TestPaths.deploy("systemd/\(unit)"), encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/runjournal", with: binary)
            try text.write(toFile: directory.file(unit), atomically: true, encoding: .utf8)
        }
        // verify exits 0 on an unknown key or a misplaced setting and only says so: read what it says.
        let process = try ChildProcess(
            executable: analyze, arguments: ["verify"] + Self.units.map { directory.file($0) },
            stdout: .file(directory.file("out.log")), stderr: .file(directory.file("out.log")))
        let status = process.wait(timeout: .seconds(120))
        let output = (try? String(contentsOfFile: directory.file("out.log"), encoding: .utf8)) ?? ""
        #expect(status.flatMap(ChildProcess.exitCode) == 0, "\(output)")
        // Only noise about the environment is tolerated (no D-Bus or system manager in a container); any line
        // naming one of the units is a complaint about it.
        let complaints = output.split(separator: "\n").filter { line in Self.units.contains { line.contains($0) } }
        #expect(complaints.isEmpty, "\(output)")
    }

    @Test("the service and the prune job are hardened: UMask, StateDirectoryMode, read-only system, no new privileges, private /tmp")
    func unitsAreHardened() throws {
        for unit in ["runjournal.service", "runjournal-prune.service"] {
            let lines = Set(try String(contentsOfFile: TestPaths.deploy("systemd/\(unit)"), encoding: .utf8).split(separator: "\n").map(String.init))
            for setting in ["UMask=0027", "StateDirectoryMode=0750", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "ReadWritePaths=/var/lib/runjournal"] {
                #expect(lines.contains(setting), "\(unit) lacks \(setting)")
            }
        }
        let timer = try String(contentsOfFile: TestPaths.deploy("systemd/runjournal-prune.timer"), encoding: .utf8)
        #expect(timer.contains("OnCalendar=") && timer.contains("WantedBy=timers.target"))
        let prune = try String(contentsOfFile: TestPaths.deploy("systemd/runjournal-prune.service"), encoding: .utf8)
        #expect(prune.contains("prune --journal /var/lib/runjournal --older-than "))
    }
}
