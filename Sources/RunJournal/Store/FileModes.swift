#if canImport(Glibc)
import Glibc
#endif

/// The permission bits of what the store creates: journals, their failure markers, the run index and the
/// temporary files that become them (`journal`), and the directories it makes (`directory`). Journals hold
/// whatever producers send (prompts, output, secrets by accident), so the defaults keep them from other
/// users of the machine: 0640 and 0750, readable by the service's group (a log shipper, a backup job).
/// Applied exactly (not narrowed by the umask); files and directories that already exist keep their mode.
public struct FileModes: Sendable, Equatable {
    public static let defaultJournalMode: mode_t = 0o640
    public static let defaultDirectoryMode: mode_t = 0o750

    public var journal: mode_t
    public var directory: mode_t

    public init(journal: mode_t = FileModes.defaultJournalMode, directory: mode_t = FileModes.defaultDirectoryMode) {
        self.journal = journal
        self.directory = directory
    }

    /// Parses an octal mode as written in configuration (`0640`, `640`, `0o640`): permission bits only
    /// (no setuid, setgid or sticky bit, at most 0777). Nil for anything else.
    public static func parseOctal(_ text: String) -> mode_t? {
        var digits = Substring(text)
        if digits.hasPrefix("0o") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 4, digits.allSatisfy({ ("0"..."7").contains($0) }), let value = mode_t(digits, radix: 8), value <= 0o777 else { return nil }
        return value
    }

    /// `0640` for logs and messages.
    public static func format(_ mode: mode_t) -> String {
        let octal = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - octal.count)) + octal
    }
}
