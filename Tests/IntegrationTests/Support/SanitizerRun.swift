import Foundation

/// Whether this run is under ThreadSanitizer or AddressSanitizer. deploy/scripts/sanitize.sh sets
/// `RUNJOURNAL_SANITIZER` to the sanitizer's name (`thread`, `address`); a normal run leaves it unset.
/// A few tests measure things the sanitizer's own runtime changes in the processes they watch — its
/// housekeeping thread's wake-ups, its start-up under a file size limit — and skip just that measurement
/// under it, saying why.
enum SanitizerRun {
    /// The sanitizer's name, or nil in a normal run.
    static let name: String? = {
        guard let value = ProcessInfo.processInfo.environment["RUNJOURNAL_SANITIZER"], !value.isEmpty else { return nil }
        return value
    }()

    /// Prints why a measurement is left out under the sanitizer, so the run's output says what was not checked.
    static func note(_ test: String, skipped reason: String) {
        print("note: under the \(name ?? "?") sanitizer, \(test): \(reason)")
    }
}
