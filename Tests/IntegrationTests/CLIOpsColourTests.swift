import Foundation
import Testing

/// Colours only on a terminal, never with NO_COLOR: pipes and files get plain text.
@Suite struct CLIOpsColourTests {
    static let escape = "\u{1B}["

    static let commands: [[String]] = [
        ["tail", "agent-support-7"],
        ["replay", "agent-support-7", "--format", "text"],
        ["ls"],
        ["stats"],
        ["prune", "--older-than", "1d", "--dry-run"],
    ]

    /// Runs `runjournal <arguments>` under a pseudo-terminal (util-linux `script`), returning what it printed.
    func onTerminal(_ arguments: [String], environment: [String: String] = [:]) throws -> OpsCLI.Result {
        let journal = try OpsCLI.fixtureCopy()
        let command = ([try TestPaths.runjournalBinary()] + arguments + ["--journal", journal.path]).joined(separator: " ")
        return try OpsCLI.runExecutable("/usr/bin/script", ["-qec", command, "/dev/null"], environment: environment)
    }

    @Test(arguments: commands)
    func plainTextWhenStdoutIsNotATerminal(arguments: [String]) throws {
        let journal = try OpsCLI.fixtureCopy()
        let result = try OpsCLI.run(arguments + ["--journal", journal.path])
        #expect(result.status == 0, "\(result)")
        #expect(!result.stdout.isEmpty)
        #expect(!result.stdout.contains(Self.escape))
    }

    @Test(arguments: commands)
    func coloursOnATerminal(arguments: [String]) throws {
        let result = try onTerminal(arguments)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains(Self.escape), "\(result.stdout.debugDescription)")
    }

    @Test(arguments: commands)
    func noColoursOnATerminalWithNoColorSet(arguments: [String]) throws {
        let result = try onTerminal(arguments, environment: ["NO_COLOR": "1"])
        #expect(result.status == 0, "\(result)")
        #expect(!result.stdout.isEmpty)
        #expect(!result.stdout.contains(Self.escape), "\(result.stdout.debugDescription)")
    }

    @Test func anEmptyNoColorDoesNotDisableColours() throws {
        let result = try onTerminal(["tail", "agent-support-7"], environment: ["NO_COLOR": ""])
        #expect(result.stdout.contains(Self.escape))
    }

    @Test func statusEventsAreHighlightedAndOtherEventsAreNot() throws {
        let result = try onTerminal(["tail", "agent-support-7"])
        // The terminal turns each \n into \r\n.
        let lines = result.stdout.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n")
        try #require(lines.count == 5)
        // run.failed in bold red; tool.started without any colour on its type.
        #expect(lines.last?.contains("\u{1B}[1;31mrun.failed\u{1B}[0m") == true, "\(lines.last.map(String.init)?.debugDescription ?? "")")
        #expect(lines[2].contains("  tool.started  "), "\(lines[2].debugDescription)")
    }
}
