import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every recipe of the README's ops section, run against the fixture journal: the docs cannot rot.
///
/// Between `<!-- ops:begin -->` and `<!-- ops:end -->`, each ```` ```sh ```` block is a recipe and must be
/// followed by a ```` ```text ```` block holding its exact stdout. A recipe runs with `bash -e` in a fresh
/// copy of the fixture directory with `runjournal` on PATH, `RUNJOURNAL_DIR=.`, and the clock pinned to the
/// fixture's "now" — `RUNJOURNAL_NOW` for runjournal and a `date` shim for the shell.
@Suite struct CLIOpsReadmeTests {
    struct Recipe: CustomTestStringConvertible, Sendable {
        var line: Int
        var script: String
        var expected: String
        var testDescription: String { "README line \(line): \(script.split(separator: "\n").first ?? "")" }
    }

    enum ReadmeError: Error, CustomStringConvertible {
        case markersMissing
        case recipeWithoutOutput(line: Int)
        case unterminatedBlock(line: Int)

        var description: String {
            switch self {
            case .markersMissing: return "README.md has no <!-- ops:begin --> … <!-- ops:end --> section"
            case .recipeWithoutOutput(let line): return "README line \(line): a ```sh recipe must be followed by a ```text block with its output"
            case .unterminatedBlock(let line): return "README line \(line): unterminated code block"
            }
        }
    }

    static func recipes() throws -> [Recipe] {
        let readme = try String(contentsOfFile: TestPaths.repositoryRoot + "/README.md", encoding: .utf8)
        let lines = readme.components(separatedBy: "\n")
        guard let begin = lines.firstIndex(of: "<!-- ops:begin -->"), let end = lines.firstIndex(of: "<!-- ops:end -->"), begin < end else {
            throw ReadmeError.markersMissing
        }
        func block(from start: Int) throws -> (body: String, next: Int) {
            var index = start + 1
            while index < end, lines[index] != "```" { index += 1 }
            guard index < end else { throw ReadmeError.unterminatedBlock(line: start + 1) }
            return (lines[(start + 1)..<index].joined(separator: "\n"), index + 1)
        }
        var recipes: [Recipe] = []
        var index = begin + 1
        while index < end {
            guard lines[index] == "```sh" else {
                index += 1
                continue
            }
            let (script, afterScript) = try block(from: index)
            var outputStart = afterScript
            while outputStart < end, lines[outputStart].isEmpty { outputStart += 1 }
            guard outputStart < end, lines[outputStart] == "```text" else { throw ReadmeError.recipeWithoutOutput(line: index + 1) }
            let (expected, next) = try block(from: outputStart)
            recipes.append(Recipe(line: index + 1, script: script, expected: expected))
            index = next
        }
        return recipes
    }

    @Test func theOpsSectionHasTheRecipesTheIssueAsksFor() throws {
        let scripts = try Self.recipes().map(\.script).joined(separator: "\n")
        #expect(try Self.recipes().count >= 10)
        for needle in ["run.failed", "tool.started", "fromdate", "tail -f", "replay", "runjournal ls", "jq"] {
            #expect(scripts.contains(needle), "no recipe uses \(needle)")
        }
    }

    @Test(arguments: try CLIOpsReadmeTests.recipes())
    func recipeOutputMatchesTheReadme(recipe: Recipe) throws {
        let journal = try OpsCLI.fixtureCopy()
        let shims = try TemporaryDirectory(prefix: "ops-shim")
        let date = shims.file("date")
        try "#!/bin/sh\nexec /usr/bin/date -d \(OpsCLI.fixtureNow) \"$@\"\n".write(toFile: date, atomically: true, encoding: .utf8)
        chmod(date, 0o755)
        let binaries = URL(fileURLWithPath: try TestPaths.runjournalBinary()).deletingLastPathComponent().path
        let path = [shims.path, binaries, ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"].joined(separator: ":")
        let result = try OpsCLI.runExecutable(
            "/bin/bash", ["-e", "-c", recipe.script],
            environment: ["PATH": path, "RUNJOURNAL_DIR": ".", "RUNJOURNAL_NOW": OpsCLI.fixtureNow, "TMPDIR": journal.path, "LC_ALL": "C"],
            workingDirectory: journal.path)
        #expect(result.status == 0, "\(result)")
        // A Markdown block cannot show trailing blank lines (the SSE stream ends with one): compare without them.
        var stdout = result.stdout
        while stdout.hasSuffix("\n") { stdout.removeLast() }
        #expect(stdout == recipe.expected, "stderr: \(result.stderr)")
    }
}
