import ArgumentParser
import Logging
import RunJournal
import ServeConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// `serve`'s hardening settings: the modes of what the store creates, the journal directory made when
/// missing, the body budget's bounds, and the warning for a TCP listener nobody guards.
extension ServeCommand {
    /// The modes of `files.journal_mode` and `files.directory_mode`.
    static func fileModes(_ settings: ServeSettings) -> FileModes {
        FileModes(journal: mode_t(settings.journalFileMode), directory: mode_t(settings.directoryMode))
    }

    static func validateHardening(_ settings: ServeSettings) throws {
        guard settings.bodyBudgetBytes >= settings.maxBodyBytes else {
            throw CLIFailure.usage(
                "http.body_budget_bytes (\(settings.bodyBudgetBytes)) must be at least http.max_body_bytes (\(settings.maxBodyBytes)): a largest body could never be accepted")
        }
    }

    /// Opens the store with the configured modes, first creating the journal directory (not its parents)
    /// with the directory mode when it does not exist. An existing directory keeps its mode; one that lets
    /// other users in gets a warning.
    static func openHardenedStore(_ settings: ServeSettings, logger: Logger) throws -> JournalStore {
        let modes = fileModes(settings)
        let directory = settings.journalDirectory
        if mkdir(directory, modes.directory) == 0 {
            _ = chmod(directory, modes.directory)
            logger.notice("created the journal directory", metadata: ["journal": "\(directory)", "mode": "\(FileModes.format(modes.directory))"])
        } else if errno != EEXIST {
            throw CLIFailure("journal directory \(directory): cannot create it: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        if stat(directory, &info) == 0, info.st_mode & 0o007 != 0 {
            logger.warning("the journal directory is open to other users; journals hold what producers send", metadata: [
                "journal": "\(directory)", "mode": "\(FileModes.format(info.st_mode & 0o777))",
                "suggested": "\(FileModes.format(modes.directory))",
            ])
        }
        var storeLogger = Logger(label: "runjournal")
        storeLogger.logLevel = settings.logLevel
        do {
            return try JournalStore(directory: directory, fsyncPolicy: settings.fsync, logger: storeLogger, fileModes: modes)
        } catch {
            throw CLIFailure("journal directory \(directory): \(JournalOptions.reason(error))")
        }
    }

    /// A TCP listener outside loopback without authentication lets anyone who reaches the port read,
    /// append to and stop every run: said once, loudly, at start.
    static func warnIfListeningUnprotected(_ settings: ServeSettings, logger: Logger) {
        guard let address = settings.listenAddress, !isLoopback(address.host), settings.authTokensFile == nil else { return }
        logger.warning(
            "listening on a non-loopback address without authentication: anyone who can reach it can read, append to and stop every run; configure auth.tokens_file (--auth-tokens) or listen on loopback or a unix socket",
            metadata: ["listen": "\(address)"])
    }

    /// `127.0.0.0/8`, `::1`, `::ffff:127.x.y.z` and `localhost`; anything else (`0.0.0.0`, `::`, another
    /// name) may be reachable from elsewhere.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes == [UInt8](repeating: 0, count: 15) + [1] { return true }
        return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
    }
}
