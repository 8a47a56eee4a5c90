#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import RunJournal
import Synchronization
import SystemSupport

/// inotify event bits (from <sys/inotify.h>), typed once as UInt32 so masks compose without casts.
enum InotifyMask {
    static let modify: UInt32 = 0x0000_0002
    static let attrib: UInt32 = 0x0000_0004
    static let closeWrite: UInt32 = 0x0000_0008
    static let movedFrom: UInt32 = 0x0000_0040
    static let movedTo: UInt32 = 0x0000_0080
    static let create: UInt32 = 0x0000_0100
    static let delete: UInt32 = 0x0000_0200
    static let deleteSelf: UInt32 = 0x0000_0400
    static let moveSelf: UInt32 = 0x0000_0800
    static let unmount: UInt32 = 0x0000_2000
    static let queueOverflow: UInt32 = 0x0000_4000
    static let ignored: UInt32 = 0x0000_8000
    static let onlyDirectory: UInt32 = 0x0100_0000
    static let maskAdd: UInt32 = 0x2000_0000

    /// A journal: growth (MODIFY per write, CLOSE_WRITE when a writer closes), and the three ways it can stop
    /// being the file at its path. DELETE_SELF does not fire while anyone (we do) holds the file open, so
    /// unlink and rename-over are seen as ATTRIB (the link count changed), rename-away as MOVE_SELF.
    static let journal: UInt32 = modify | closeWrite | attrib | moveSelf | deleteSelf
    /// A directory: entries appearing and disappearing, and the directory itself going away.
    static let directory: UInt32 = create | movedTo | delete | movedFrom | deleteSelf | moveSelf | onlyDirectory
}

/// One inotify event as read from the kernel (name only for events on a directory's entries).
struct InotifyEvent: Equatable, Sendable {
    var watch: Int32
    var mask: UInt32
    var name: String?
}

/// What a registration on the hub is told; called on the hub's thread, so implementations must return quickly
/// and never call back into the hub while holding a lock the hub's callers hold.
protocol InotifyTarget: AnyObject, Sendable {
    /// Events for this target's watch from one read of the queue, in order.
    func inotifyEvents(_ events: [InotifyEvent])
    /// The kernel's queue overflowed (or a test injected that): events were lost, re-check everything.
    func inotifyQueueOverflowed()
    /// The kernel dropped the watch (IN_IGNORED: the inode went away or its filesystem was unmounted).
    func inotifyWatchLost()
}

/// The process's single inotify instance, shared by every `JournalTailer`, with its one reader thread.
///
/// Why process-wide rather than per tailer: inotify instances are a per-user resource (128 by default), and
/// the kernel hands out one watch descriptor per inode per instance, so two tailers (or a tailer and a
/// directory watch) on the same file would otherwise each pay for an instance and a watch. The hub keeps the
/// reference count per watch descriptor itself: the kernel's watch is removed with its last registration.
final class InotifyHub: Sendable {
    /// Identifies one registration (one target on one watch descriptor).
    struct Registration: Hashable, Sendable {
        let watch: Int32
        let id: UInt64
    }

    private struct State {
        var targets: [Int32: [UInt64: any InotifyTarget]] = [:]
        var nextID: UInt64 = 1
        var injectedOverflows = 0
    }

    let inotifyFD: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let state = LockedValue(State())
    private let logger: Logger

    /// How many inotify instances this process has created; the design (and a test) says exactly one.
    static let instancesCreated = Atomic<Int>(0)
    private static let shared = LockedValue<InotifyHub?>(nil)

    /// The process's hub, created (with its thread) on first use. A failed creation is not remembered, so a
    /// later subscription tries again (EMFILE, or a thread refused with EAGAIN, may be transient); meanwhile
    /// the tailer polls.
    static func obtain(logger: Logger) throws(SystemError) -> InotifyHub {
        try shared.withLock { slot throws(SystemError) -> InotifyHub in
            if let hub = slot { return hub }
            let hub = try InotifyHub(logger: logger)
            do throws(ThreadStartError) {
                try hub.startReaderThread()
            } catch {
                hub.closeDescriptors()
                throw SystemError(operation: "pthread_create", errno: error.errno)
            }
            slot = hub
            return hub
        }
    }

    /// The hub if one was created, without creating it (for inspection by tests and statistics).
    static var existing: InotifyHub? { shared.withLock { $0 } }

    private init(logger: Logger) throws(SystemError) {
        let fd = inotify_init1(Int32(O_CLOEXEC | O_NONBLOCK))
        guard fd >= 0 else { throw SystemError(operation: "inotify_init1", errno: errno) }
        // A socketpair rather than pipe2, which Swift's Glibc module does not export; both ends are created
        // close-on-exec and non-blocking atomically.
        var wakeFDs: [Int32] = [0, 0]
        let type = Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue)
        guard socketpair(AF_UNIX, type, 0, &wakeFDs) == 0 else {
            let error = SystemError(operation: "socketpair", errno: errno)
            Sys.close(fd)
            throw error
        }
        inotifyFD = fd
        wakeRead = wakeFDs[0]
        wakeWrite = wakeFDs[1]
        var logger = logger
        logger[metadataKey: "component"] = "inotify"
        self.logger = logger
        Self.instancesCreated.add(1, ordering: .relaxed)
    }

    /// Watches `path` for `mask` on behalf of `target`. Watches are added with IN_MASK_ADD so a second
    /// registration on the same inode widens the kernel's mask instead of replacing the first one's.
    func addWatch(path: String, mask: UInt32, target: any InotifyTarget) throws(SystemError) -> Registration {
        // The syscall runs under the lock so a concurrent removal of the last registration on the same inode
        // cannot rm_watch the descriptor the kernel is just handing back to us.
        try state.withLock { state throws(SystemError) -> Registration in
            let wd = inotify_add_watch(inotifyFD, path, mask | InotifyMask.maskAdd)
            guard wd >= 0 else { throw SystemError(operation: "inotify_add_watch", errno: errno) }
            let id = state.nextID
            state.nextID += 1
            state.targets[wd, default: [:]][id] = target
            return Registration(watch: wd, id: id)
        }
    }

    /// Drops a registration; the kernel watch goes with the last one on its descriptor. Idempotent.
    func removeWatch(_ registration: Registration) {
        state.withLock { state in
            guard var targets = state.targets[registration.watch],
                  targets.removeValue(forKey: registration.id) != nil else { return }
            if targets.isEmpty {
                state.targets[registration.watch] = nil
                // EINVAL means the kernel already dropped it (IN_IGNORED still queued): nothing to undo.
                _ = inotify_rm_watch(inotifyFD, registration.watch)
            } else {
                state.targets[registration.watch] = targets
            }
        }
    }

    /// Number of kernel watches the hub holds (all tailers of the process).
    var watchCount: Int { state.withLock { $0.targets.count } }

    /// Test seam: makes the reader thread behave as if the kernel had reported IN_Q_OVERFLOW.
    func injectQueueOverflow() {
        state.withLock { $0.injectedOverflows += 1 }
        var byte: UInt8 = 1
        // EAGAIN means the socket buffer is full, so a wake-up is already pending: nothing lost.
        _ = write(wakeWrite, &byte, 1)
    }

    private func startReaderThread() throws(ThreadStartError) {
        try startDetachedThread(name: "rj-inotify") { [self] in
            self.runReader()
        }
    }

    /// Only for a hub whose reader never started (the hub otherwise lives as long as the process).
    private func closeDescriptors() {
        Sys.close(inotifyFD)
        Sys.close(wakeRead)
        Sys.close(wakeWrite)
    }

    /// The reader loop: block in poll until the queue or the wake socket is readable, drain the queue, dispatch.
    /// It runs for the life of the process, as the hub does.
    private func runReader() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var fds = [
            pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                logger.critical("poll on the inotify queue failed; journals are no longer followed by events",
                                metadata: ["errno": "\(errno)"])
                failAllWatches()
                return
            }
            var events: [InotifyEvent] = []
            if fds[1].revents != 0 {
                drainWakeSocket()
                let injected = state.withLock { state in
                    defer { state.injectedOverflows = 0 }
                    return state.injectedOverflows
                }
                if injected > 0 { events.append(InotifyEvent(watch: -1, mask: InotifyMask.queueOverflow, name: nil)) }
            }
            if fds[0].revents != 0 {
                do {
                    try readQueue(into: &events, buffer: &buffer)
                } catch {
                    logger.critical("reading the inotify queue failed; journals fall back to polling",
                                    metadata: ["errno": "\(error.errno)"])
                    failAllWatches()
                    return
                }
            }
            dispatch(events)
        }
    }

    private func drainWakeSocket() {
        var scratch = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &scratch, scratch.count) > 0 {}
    }

    /// Reads everything queued (the fd is non-blocking) and parses `struct inotify_event` records.
    private func readQueue(into events: inout [InotifyEvent], buffer: inout [UInt8]) throws(SystemError) {
        while true {
            let n = buffer.withUnsafeMutableBytes { read(inotifyFD, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                throw SystemError(operation: "read(inotify)", errno: errno)
            }
            if n == 0 { return }
            events.append(contentsOf: Self.parse(buffer[0..<n]))
        }
    }

    /// Parses a buffer of `struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }`.
    static func parse(_ bytes: ArraySlice<UInt8>) -> [InotifyEvent] {
        var events: [InotifyEvent] = []
        bytes.withUnsafeBytes { raw in
            var at = 0
            while at + 16 <= raw.count {
                let wd = raw.loadUnaligned(fromByteOffset: at, as: Int32.self)
                let mask = raw.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
                let length = Int(raw.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self))
                var name: String?
                if length > 0, at + 16 + length <= raw.count {
                    let field = raw[(at + 16)..<(at + 16 + length)]
                    name = String(decoding: field.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                events.append(InotifyEvent(watch: wd, mask: mask, name: name))
                at += 16 + length
            }
        }
        return events
    }

    /// Hands each target its events (grouped per watch, in order). On overflow every target of the process
    /// re-checks, because which events were lost is unknown. IN_IGNORED ends a watch the kernel dropped.
    private func dispatch(_ events: [InotifyEvent]) {
        guard !events.isEmpty else { return }
        var order: [Int32] = []
        var perWatch: [Int32: [InotifyEvent]] = [:]
        var overflowed = false
        for event in events {
            if event.mask & InotifyMask.queueOverflow != 0 {
                overflowed = true
                continue
            }
            if perWatch[event.watch] == nil { order.append(event.watch) }
            perWatch[event.watch, default: []].append(event)
        }
        for wd in order {
            let batch = perWatch[wd]!
            let targets = state.withLock { state in state.targets[wd].map { Array($0.values) } ?? [] }
            for target in targets { target.inotifyEvents(batch) }
            if batch.contains(where: { $0.mask & InotifyMask.ignored != 0 }) {
                // The kernel already removed the watch; forget it so nobody calls rm_watch on a stale wd.
                let lost = state.withLock { state in state.targets.removeValue(forKey: wd).map { Array($0.values) } ?? [] }
                for target in lost { target.inotifyWatchLost() }
            }
        }
        if overflowed {
            logger.warning("inotify queue overflowed; re-checking every followed journal")
            let everyone = state.withLock { state in state.targets.values.flatMap { $0.values } }
            var seen = Set<ObjectIdentifier>()
            for target in everyone where seen.insert(ObjectIdentifier(target)).inserted {
                target.inotifyQueueOverflowed()
            }
        }
    }

    /// The reader cannot go on: tell every target its watch is gone so it falls back to polling.
    private func failAllWatches() {
        let everyone = state.withLock { state in
            defer { state.targets.removeAll() }
            return state.targets.values.flatMap { $0.values }
        }
        for target in everyone { target.inotifyWatchLost() }
        Self.shared.withLock { slot in
            if slot === self { slot = nil }
        }
    }
}
