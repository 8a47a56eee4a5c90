import ArgumentParser
import Logging
import RunJournal

#if canImport(Glibc)
import Glibc
#endif

/// `--journal DIR`, shared by every subcommand: the directory of `<run-id>.jsonl` files.
struct JournalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The journal directory (default: $RUNJOURNAL_DIR, else ./journal).", valueName: "dir"))
    var journal: String?

    var directory: String {
        if let journal { return journal }
        if let fromEnvironment = getenv("RUNJOURNAL_DIR").map({ String(cString: $0) }), !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return "./journal"
    }

    /// Opens the store; a missing directory is a one-line failure. A one-shot command keeps to one line on
    /// stderr: the store's own log lines (a failed journal, a cut torn tail) are left to `serve`, whose log is
    /// the place for them; the command's error line says what failed and for which run.
    func openStore(fsync: FsyncPolicy = .always, logLevel: Logger.Level = .critical) throws -> JournalStore {
        var logger = Logger(label: "runjournal")
        logger.logLevel = logLevel
        do {
            return try JournalStore(directory: directory, fsyncPolicy: fsync, logger: logger)
        } catch {
            throw CLIFailure("journal directory \(directory): \(Self.reason(error))")
        }
    }

    static func reason(_ error: any Error) -> String {
        if case JournalError.io(_, _, let code)? = error as? JournalError { return String(cString: strerror(code)) }
        return "\(error)"
    }

    /// Parses a run id argument (exit 2 on a malformed id: it is a usage error, no path is built).
    static func runID(_ text: String) throws -> RunID {
        do { return try RunID(text) } catch { throw CLIFailure.usage("\(error)") }
    }
}

/// `--fsync POLICY` for commands that write.
struct FsyncOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("always | interval:<ms> | never", valueName: "policy"))
    var fsync: String = "always"

    func policy() throws -> FsyncPolicy {
        guard let policy = FsyncPolicy(parsing: fsync) else {
            throw CLIFailure.usage("--fsync must be always, never or interval:<ms> (got \(fsync))")
        }
        return policy
    }
}

enum ProcessEnvironment {
    /// `RUNJOURNAL_LOG_LEVEL` (trace … critical), default info.
    static var logLevel: Logger.Level {
        guard let raw = getenv("RUNJOURNAL_LOG_LEVEL"), let level = Logger.Level(rawValue: String(cString: raw)) else {
            return .info
        }
        return level
    }
}
