#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import RunJournal
import SystemSupport

/// What a directory watch reports. Names are entry names inside the directory (no path), unfiltered: a
/// journal created as a temporary file and renamed into place shows up as its final name appearing (and the
/// temporary name coming and going), so callers filter on the suffix they care about (`.jsonl`).
public enum DirectoryChange: Sendable, Equatable {
    /// An entry was created, linked or renamed into the directory.
    case appeared(String)
    /// An entry was deleted or renamed out of the directory.
    case removed(String)
    /// Changes may have been missed (the kernel's event queue overflowed): list the directory again.
    case rescanNeeded
    /// The directory itself was deleted or renamed away; the watch has ended and reports nothing more.
    case directoryGone
}

/// A running directory watch from `JournalTailer.watchDirectory`; it exists so the CLI's `tail -f --all`
/// can notice runs that start after it did. Cancel it when done (dropping it cancels too).
public final class DirectoryWatch: Sendable {
    /// The watched directory, as given.
    public let path: String
    private let watcher: DirectoryWatcher

    init(path: String, watcher: DirectoryWatcher) {
        self.path = path
        self.watcher = watcher
    }

    deinit {
        watcher.end()
    }

    /// Stops the watch. Idempotent; `onChange` may still run once if it was already being called.
    public func cancel() {
        watcher.end()
    }
}

/// The inotify/poll target behind a `DirectoryWatch`. With inotify the kernel names the entries; when
/// polling, each tick lists the directory and reports the difference from the previous listing.
final class DirectoryWatcher: Sendable, InotifyTarget, PollTarget {
    private struct State {
        var follow: FollowMethod = .none
        var ended = false
        /// The last listing, when polling.
        var names: Set<String>?
    }

    let path: String
    private let identity: FileStatus
    private let onChange: @Sendable (DirectoryChange) -> Void
    private let core: TailerCore
    private let state = LockedValue(State())

    init(path: String, identity: FileStatus, core: TailerCore, onChange: @escaping @Sendable (DirectoryChange) -> Void) {
        self.path = path
        self.identity = identity
        self.core = core
        self.onChange = onChange
    }

    func start() {
        // Polling needs a first listing to compare with, taken before the first tick can run (listing first
        // means an entry created meanwhile is reported by that tick rather than missed).
        prime()
        let follow = core.makeFollow(path: path, mask: InotifyMask.directory, target: self, pollTarget: self)
        let attached = state.withLock { state -> Bool in
            guard !state.ended else { return false }
            state.follow = follow
            return true
        }
        if attached {
            core.directoryWatches.add(1, ordering: .relaxed)
        } else {
            core.undo(follow, for: self)
        }
    }

    /// Ends the watch: no more reports, watch or poll removed.
    func end() {
        let follow = state.withLock { state -> FollowMethod? in
            guard !state.ended else { return nil }
            state.ended = true
            defer { state.follow = .none }
            return state.follow
        }
        guard let follow else { return }
        if case .none = follow {} else { core.directoryWatches.add(-1, ordering: .relaxed) }
        core.undo(follow, for: self)
    }

    private var isEnded: Bool { state.withLock { $0.ended } }

    private func prime() {
        let names = try? Sys.listDirectory(path)
        state.withLock { $0.names = names ?? [] }
    }

    private func report(_ changes: [DirectoryChange]) {
        for change in changes {
            if isEnded { return }
            onChange(change)
            if change == .directoryGone {
                end()
                return
            }
        }
    }

    func inotifyEvents(_ events: [InotifyEvent]) {
        var changes: [DirectoryChange] = []
        for event in events {
            if event.mask & (InotifyMask.create | InotifyMask.movedTo) != 0, let name = event.name {
                changes.append(.appeared(name))
            } else if event.mask & (InotifyMask.delete | InotifyMask.movedFrom) != 0, let name = event.name {
                changes.append(.removed(name))
            } else if event.mask & (InotifyMask.deleteSelf | InotifyMask.moveSelf | InotifyMask.unmount) != 0 {
                changes.append(.directoryGone)
            }
        }
        report(changes)
    }

    func inotifyQueueOverflowed() {
        report([.rescanNeeded])
    }

    func inotifyWatchLost() {
        if isEnded { return }
        // Gone for good, or only our watch (the reader failed): in the latter case poll from a new listing.
        guard let named = try? Sys.stat(path), named.isSameFile(as: identity) else {
            report([.directoryGone])
            return
        }
        prime()
        if let error = core.poller.add(self) { core.logPollerUnavailable(error, path: path) }
        let previous = state.withLock { state -> FollowMethod? in
            guard !state.ended else { return nil }
            defer { state.follow = .polling(core.poller) }
            return state.follow
        }
        guard let previous else {
            core.poller.remove(self)
            return
        }
        if case .polling = previous { return }
        core.undo(previous, for: self)
        core.logger.warning("inotify watch lost; polling the directory instead", metadata: ["path": "\(path)"])
        // Events may have been lost between the failure and the new listing.
        report([.rescanNeeded])
    }

    func pollTick() {
        if isEnded { return }
        guard let named = try? Sys.stat(path), named.isSameFile(as: identity),
              let names = try? Sys.listDirectory(path) else {
            report([.directoryGone])
            return
        }
        let previous = state.withLock { state -> Set<String> in
            defer { state.names = names }
            return state.names ?? names
        }
        var changes: [DirectoryChange] = names.subtracting(previous).sorted().map { .appeared($0) }
        changes += previous.subtracting(names).sorted().map { .removed($0) }
        report(changes)
    }
}
