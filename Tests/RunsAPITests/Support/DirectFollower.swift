import RunJournal
import RunsAPI
import Synchronization
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// A `JournalFollowing` that reads the journal file itself on every `read`, from its own offset: no inotify,
/// no threads, so the stream tests are deterministic (the inotify tailer has its own tests).
///
/// Like the real tailer it yields complete lines only, keeps reading the inode it opened, and reports
/// `.gone` once that inode is no longer the one at the path (deleted, renamed away or replaced) and
/// everything it held has been read. Tests can pause it (a follower that has not shown another writer's
/// event yet) and hook the moment a stream starts following (to append "right at the replay→live switch").
final class DirectFollower: JournalFollowing {
    /// Called with the path and offset when a stream starts following, before `follow` returns.
    let onFollow: (@Sendable (String, Int64) -> Void)?
    private let follows = LockedValue<[DirectFollow]>([])
    private let paused = PauseSwitch()

    init(onFollow: (@Sendable (String, Int64) -> Void)? = nil) {
        self.onFollow = onFollow
    }

    /// Every follow started so far, oldest first.
    var started: [DirectFollow] { follows.withLock { $0 } }

    /// Whether every follow started so far was cancelled (true when none was started).
    var allFollowsCancelled: Bool { started.allSatisfy { $0.isCancelled } }

    /// While paused, every `read` answers `.caughtUp` as if the new bytes had not been noticed yet.
    func pause() { paused.flag.store(true, ordering: .sequentiallyConsistent) }
    func resume() { paused.flag.store(false, ordering: .sequentiallyConsistent) }

    func follow(path: String, from offset: Int64, onWake: @escaping @Sendable () -> Void) throws -> any JournalFollow {
        onFollow?(path, offset)
        let follow = DirectFollow(path: path, offset: offset, paused: paused)
        follows.withLock { $0.append(follow) }
        return follow
    }
}

/// One stream's position in a journal followed by `DirectFollower`.
final class DirectFollow: JournalFollow {
    let path: String
    let startOffset: Int64
    private let paused: PauseSwitch
    private struct State {
        var fd: Int32
        var inode: UInt64
        var offset: Int64
        var cancelled = false
        var reads = 0
    }
    private let state: LockedValue<State>

    init(path: String, offset: Int64, paused: PauseSwitch) {
        self.path = path
        self.startOffset = offset
        self.paused = paused
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        var info = stat()
        let inode: UInt64 = fd >= 0 && fstat(fd, &info) == 0 ? UInt64(info.st_ino) : 0
        state = LockedValue(State(fd: fd, inode: inode, offset: offset))
    }

    deinit {
        state.withLock { if $0.fd >= 0 { close($0.fd) } }
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }
    var readCount: Int { state.withLock { $0.reads } }
    /// The offset just after the last line handed out.
    var offset: Int64 { state.withLock { $0.offset } }

    func cancel() {
        state.withLock { state in
            state.cancelled = true
            if state.fd >= 0 {
                close(state.fd)
                state.fd = -1
            }
        }
    }

    func read(maxBytes: Int) -> FollowRead {
        let paused = self.paused.flag.load(ordering: .sequentiallyConsistent)
        return state.withLock { state -> FollowRead in
            state.reads += 1
            // A cancelled follow, or a file that could not even be opened, has nothing more to give.
            guard !state.cancelled, state.fd >= 0 else { return .gone }
            if paused { return .caughtUp }
            if let lines = Self.completeLines(fd: state.fd, at: state.offset, maxBytes: max(1, maxBytes)) {
                let start = state.offset
                state.offset += Int64(lines.count)
                return .lines(lines, offset: start)
            }
            return Self.isStillAtPath(path, inode: state.inode) ? .caughtUp : .gone
        }
    }

    /// The complete lines at `offset`: at most about `maxBytes`, but always at least one whole line.
    private static func completeLines(fd: Int32, at offset: Int64, maxBytes: Int) -> [UInt8]? {
        var size = maxBytes
        while true {
            var buffer = [UInt8](repeating: 0, count: size)
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, size, off_t(offset)) }
            guard count > 0 else { return nil }
            if let lastNewline = buffer[..<count].lastIndex(of: 0x0A) {
                return Array(buffer[...lastNewline])
            }
            // No newline: an incomplete last line, or one line longer than the window.
            if count < size { return nil }
            size *= 2
        }
    }

    private static func isStillAtPath(_ path: String, inode: UInt64) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return UInt64(info.st_ino) == inode
    }
}

/// The pause flag shared by a follower and its follows (a separate object so follows do not keep the
/// follower alive).
final class PauseSwitch: Sendable {
    let flag = Atomic<Bool>(false)
}
