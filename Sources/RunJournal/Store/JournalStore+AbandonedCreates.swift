#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// Cleaning up after a crashed `create`: it writes `.create-<ulid>.tmp`, syncs it, links it into place and
/// unlinks it, so a process killed in between leaves the temporary file behind, forever.
///
/// Which ones are abandoned: those not modified for `abandonedCreateAgeMillis` (60 s). A create holds its
/// temporary file for one write, one `fdatasync` and one `link`, milliseconds on a healthy disk, and another
/// process may be in the middle of one right now; a create stuck that long in its sync has already failed its
/// client's patience, and losing its file then makes its `link` fail with an error (nothing is ever
/// acknowledged for it), never a half-made journal. Age is judged against the store's wall clock; a file
/// dated in the future (the clock was set back) is left for a later cleanup.
extension JournalStore {
    /// How long a `.create-*.tmp` must have been left untouched before it counts as abandoned.
    public static let abandonedCreateAgeMillis: Int64 = 60_000

    /// Removes the abandoned `.create-*.tmp` files of the directory; returns their names.
    @discardableResult
    public func removeAbandonedCreateFiles(olderThanMillis age: Int64 = JournalStore.abandonedCreateAgeMillis) throws -> [String] {
        guard let listing = opendir(directory) else {
            throw JournalError.io(operation: "list journal directory", path: directory, errno: errno)
        }
        var names: [String] = []
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".create-") && name.hasSuffix(".tmp") { names.append(name) }
        }
        closedir(listing)

        let now = clock.nowMillis()
        var removed: [String] = []
        for name in names.sorted() {
            let path = directory + "/" + name
            guard let info = try asJournalError({ try Sys.statIfExists(path) }), info.isRegularFile else { continue }
            let modified = info.modifiedMillis
            guard now - modified >= age else { continue }
            if unlink(path) == 0 {
                removed.append(name)
            } else if errno != ENOENT {  // ENOENT: its create finished or another cleanup got there first
                throw JournalError.io(operation: "remove abandoned temporary file", path: path, errno: errno)
            }
        }
        if !removed.isEmpty { try asJournalError { try Sys.fsyncDirectory(directory) } }
        return removed
    }
}
