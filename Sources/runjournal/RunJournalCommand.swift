import ArgumentParser
import Logging
import RunJournal

#if canImport(Glibc)
import Glibc
#endif

/// The `runjournal` executable: the journal store's CLI, the ops tools and the FastCGI server in one binary.
///
/// Exit codes for every subcommand: 0 success, 1 failure (not found, refused, problems found), 2 usage error.
/// swift-argument-parser's default usage code (64) is overridden in `main()`.
@main
struct RunJournalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runjournal",
        abstract: "Store and stream the live events of long-running jobs, one JSONL journal per run.",
        discussion: """
            Exit codes: 0 success, 1 failure (not found, refused, problems found), 2 usage error.
            Every subcommand takes --journal DIR (default: $RUNJOURNAL_DIR, else ./journal).
            """,
        subcommands: CommandRegistry.all
    )

    static func main() {
        // Every log line's timestamp goes through localtime(3), which with TZ unset stats /etc/localtime
        // each time (a syscall per request in `serve`'s request log). ":/etc/localtime" is the same zone,
        // read once.
        if getenv("TZ") == nil { setenv("TZ", ":/etc/localtime", 0) }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessLogLevel.current
            return handler
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as CLIFailure {
            writeStandardError("runjournal: \(failure.message)\n")
            Glibc.exit(failure.exitCode)
        } catch let error as JournalError {
            writeStandardError("runjournal: \(error)\n")
            Glibc.exit(1)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help, --version: argument-parser prints them and exits 0
            }
            // Usage errors: one line (argument-parser's message without the usage block), exit 2 instead of 64.
            let message = Self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            let trimmed = message.hasPrefix("Error: ") ? String(message.dropFirst("Error: ".count)) : message
            writeStandardError("runjournal: \(trimmed) (see runjournal --help)\n")
            Glibc.exit(code.rawValue == 1 ? 1 : 2)
        }
    }
}
