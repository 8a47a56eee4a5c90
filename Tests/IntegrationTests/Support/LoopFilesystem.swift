import Foundation
import RunJournal
import Synchronization
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// A small real ext4 filesystem on a loop device, for tests of what the store does when the disk fails.
///
/// Two ways to make it fail:
/// - `.directory`: the image is a plain file under /tmp; `fillFilesystem(leavingKiB:)` leaves the ext4 almost
///   full, so `write(2)` fails with ENOSPC — a disk that is full.
/// - `.tmpfs(headroomKiB:)`: the image lives on a private tmpfs that has only `headroomKiB` left for new data
///   blocks. ext4 accepts writes into its page cache, but writeback to the loop device fails once the tmpfs
///   is full, so `fdatasync` fails (ENOSPC from the block layer) while the filesystem stays mounted and
///   writable — a disk whose writes fail. The image is made dense after mkfs and then trimmed, so ext4's
///   journal and metadata blocks already own their tmpfs pages and only new data blocks can fail: the
///   filesystem's own journal keeps working, like a disk with bad sectors rather than a dead one.
///   The loop device sends one page per request (`limitRequestsToOnePage`): the loop driver reports a
///   partly written request as written, so a larger request meeting the full tmpfs would make `fdatasync`
///   succeed for blocks that never reached the image.
///
/// The layout is ext4 without extents (indirect blocks), on which `fallocate` is unsupported: the store's
/// space reservation does nothing and a full disk is met by `write(2)` itself. (Extents are not what lost
/// acknowledged data after a failed writeback; that was the loop driver's partial write above, with
/// either layout.)
///
/// Everything lives under `/tmp/rj-diskfault-<pid>-XXXXXX`; `removeLeftovers()` cleans what a crashed
/// earlier run (whose pid is gone) left behind, and `destroy()` (idempotent, also run by deinit) unmounts
/// and detaches only what this instance made.
final class LoopFilesystem: @unchecked Sendable {
    enum Backing: Sendable {
        case directory
        case tmpfs(headroomKiB: Int)
    }

    static let prefix = "/tmp/rj-diskfault-"
    let extents: Bool

    /// The tagged directory holding everything.
    let root: String
    /// Where the ext4 is mounted.
    let mountPoint: String
    let imagePath: String
    /// The loop device this instance attached (nil before attaching and after `destroy()`).
    var loopDevice: String? { state.withLock { $0.loopDevice } }

    private let tmpfsPoint: String?
    private struct State {
        var loopDevice: String?
        /// The loop device's request size limit before `limitRequestsToOnePage` (it outlives `losetup -d`).
        var originalRequestLimit: String?
        var ext4Mounted = false
        var tmpfsMounted = false
        var destroyed = false
    }
    private let state = LockedValue(State())

    /// Makes an `imageMiB` ext4 image (on `backing`), attaches it to a fresh loop device and mounts it.
    /// `extents`: build ext4 with extents (mkfs's default, what production disks have), on which `fallocate`
    /// works and the store's space reservation meets a full disk before a byte is written.
    init(imageMiB: Int, backing: Backing, extents: Bool = false) throws {
        self.extents = extents
        Self.removeLeftovers()
        var template = Array("\(Self.prefix)\(getpid())-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SystemCommand.Failure(description: "mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        root = String(cString: created)
        mountPoint = root + "/mnt"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
        let imageDirectory: String
        switch backing {
        case .directory:
            tmpfsPoint = nil
            imageDirectory = root
        case .tmpfs:
            let point = root + "/tmpfs"
            tmpfsPoint = point
            imageDirectory = point
            try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: false)
        }
        imagePath = imageDirectory + "/disk.img"
        do {
            try build(imageMiB: imageMiB, backing: backing)
        } catch {
            destroy()
            throw error
        }
    }

    private func build(imageMiB: Int, backing: Backing) throws {
        if let tmpfsPoint {
            // Room for the whole image (made dense below) plus the filler that later takes the slack away.
            try SystemCommand.run("mount", ["-t", "tmpfs", "-o", "size=\(imageMiB * 2 + 16)m,mode=0700", "tmpfs", tmpfsPoint])
            state.withLock { $0.tmpfsMounted = true }
        }
        try SystemCommand.run("truncate", ["-s", "\(imageMiB)M", imagePath])
        try SystemCommand.run("mkfs.ext4", [
            "-q", "-F", "-m", "0", "-b", "4096", "-O", extents ? "^flex_bg,^64bit" : "^extent,^flex_bg,^64bit",
            "-E", "lazy_itable_init=0,lazy_journal_init=0", imagePath,
        ])
        if case .tmpfs = backing {
            // mkfs leaves the journal and the inode tables as holes; give every block its tmpfs page now,
            // and let fstrim (after mounting) give back the pages of the blocks that are still free.
            try SystemCommand.run("fallocate", ["-l", "\(imageMiB)M", imagePath])
        }
        let device = try SystemCommand.run("losetup", ["-f", "--show", imagePath]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard device.hasPrefix("/dev/loop") else { throw SystemCommand.Failure(description: "losetup printed \(device)") }
        state.withLock { $0.loopDevice = device }
        try limitRequestsToOnePage(device)
        try mount()
        if case .tmpfs(let headroomKiB) = backing, let tmpfsPoint {
            try SystemCommand.run("fstrim", [mountPoint])
            try fill(tmpfsPoint, leavingKiB: headroomKiB, filler: tmpfsPoint + "/filler")
        }
    }

    /// Makes the loop device send its backing file at most one page per request, so that each write of the
    /// backing file is taken whole or refused whole. `destroy()` puts the old limit back: it stays with the
    /// loop device after it is detached.
    ///
    /// The loop driver completes a write request successfully when the backing file took only part of it
    /// (`lo_complete_rq` retries short reads and fails negative results, but a short write ends with
    /// BLK_STS_OK). On the tmpfs backing, a multi-block request that meets the tmpfs with fewer free pages
    /// than it needs is written short: ext4 and `fdatasync` are told the blocks past the free pages are on
    /// the disk, and after a remount they read back as zeros — acknowledged appends lost by the test disk
    /// itself, which no store can detect. A one-page request either gets its tmpfs page or fails with
    /// ENOSPC, which ext4 reports as a writeback error like a real failing disk.
    private func limitRequestsToOnePage(_ device: String) throws {
        let setting = Self.requestLimitSetting(device)
        let pageKiB = Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
        let original = (try? String(contentsOfFile: setting, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        state.withLock { $0.originalRequestLimit = original }
        do {
            try "\(pageKiB)\n".write(toFile: setting, atomically: false, encoding: .utf8)
        } catch {
            throw SystemCommand.Failure(description: "cannot limit \(device) to one-page requests (\(setting)): \(error)")
        }
        let current = (try? String(contentsOfFile: setting, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard current == "\(pageKiB)" else {
            throw SystemCommand.Failure(description: "\(setting) is \(current ?? "unreadable") after writing \(pageKiB)")
        }
    }

    /// The sysfs file holding the largest request (KiB) the block layer sends `device`.
    private static func requestLimitSetting(_ device: String) -> String {
        "/sys/block/\((device as NSString).lastPathComponent)/queue/max_sectors_kb"
    }

    /// Mounts the ext4 (again), as a reboot would. If the kernel refuses (errors recorded from the last
    /// mount), runs `e2fsck -fy` first, as the boot's fsck would.
    func mount() throws {
        guard let device = loopDevice else { throw SystemCommand.Failure(description: "no loop device attached") }
        do {
            try SystemCommand.run("mount", ["-t", "ext4", device, mountPoint])
        } catch {
            _ = try? SystemCommand.run("e2fsck", ["-fy", device])
            try SystemCommand.run("mount", ["-t", "ext4", device, mountPoint])
        }
        state.withLock { $0.ext4Mounted = true }
    }

    /// Unmounts the ext4 (everything using it must be stopped first); retries while it is busy.
    func unmount() throws {
        guard state.withLock({ $0.ext4Mounted }) else { return }
        var lastError: (any Error)?
        for _ in 0..<50 {
            do {
                try SystemCommand.run("umount", [mountPoint])
                state.withLock { $0.ext4Mounted = false }
                return
            } catch {
                lastError = error
                usleep(200_000)
            }
        }
        throw lastError!
    }

    /// Takes all but `leavingKiB` of the ext4's free space with a file of zeros.
    func fillFilesystem(leavingKiB: Int) throws {
        try fill(mountPoint, leavingKiB: leavingKiB, filler: mountPoint + "/filler")
    }

    /// Frees the space `fillFilesystem` took: the operator made room.
    func releaseFilesystemSpace() {
        unlink(mountPoint + "/filler")
    }

    /// Gives the tmpfs under the image its space back (removes its filler), so writes to the loop device
    /// succeed again: the disk has been repaired.
    func releaseBackingSpace() {
        guard let tmpfsPoint else { return }
        unlink(tmpfsPoint + "/filler")
    }

    /// Free KiB of the filesystem holding `path`.
    static func availableKiB(_ path: String) -> Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return 0 }
        return Int(info.f_bavail) * Int(info.f_frsize) / 1024
    }

    private func fill(_ path: String, leavingKiB: Int, filler: String) throws {
        sync()
        let available = Self.availableKiB(path)
        guard available > leavingKiB else {
            throw SystemCommand.Failure(description: "\(path) has only \(available) KiB free, less than the \(leavingKiB) KiB to leave")
        }
        // Written, not fallocated: ext4 without extents cannot preallocate.
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw SystemCommand.Failure(description: "cannot create \(filler): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 1024 * 1024)
        var left = (available - leavingKiB) * 1024
        while left > 0 {
            let count = chunk.withUnsafeBytes { write(fd, $0.baseAddress!, min(left, $0.count)) }
            guard count > 0 else { throw SystemCommand.Failure(description: "filling \(filler): \(String(cString: strerror(errno)))") }
            left -= count
        }
        guard fsync(fd) == 0 else { throw SystemCommand.Failure(description: "fsync \(filler): \(String(cString: strerror(errno)))") }
    }

    /// Unmounts, detaches and removes everything this instance made. Safe to call more than once and after
    /// a failure half-way through `init`; the processes using the mount must be stopped first (a busy mount
    /// is detached lazily rather than left behind).
    func destroy() {
        let current = state.withLock { state -> State in
            let current = state
            state = State(destroyed: true)
            return current
        }
        if current.destroyed { return }
        if current.ext4Mounted { Self.unmountForCleanup(mountPoint) }
        if let device = current.loopDevice {
            if let original = current.originalRequestLimit {
                try? "\(original)\n".write(toFile: Self.requestLimitSetting(device), atomically: false, encoding: .utf8)
            }
            _ = try? SystemCommand.run("losetup", ["-d", device])
        }
        if current.tmpfsMounted, let tmpfsPoint { Self.unmountForCleanup(tmpfsPoint) }
        if !Self.mountPoints().contains(where: { $0.hasPrefix(root + "/") }) {
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    deinit { destroy() }

    private static func unmountForCleanup(_ path: String) {
        for _ in 0..<10 {
            if (try? SystemCommand.run("umount", [path])) != nil { return }
            if !mountPoints().contains(path) { return }
            usleep(200_000)
        }
        _ = try? SystemCommand.run("umount", ["-l", path])
    }

    // MARK: leftovers of crashed runs

    /// Unmounts, detaches and removes what earlier test processes (no longer alive) left under `prefix`:
    /// a run killed in the middle of a test cannot run its own cleanup. Loop devices are detached only
    /// when their backing file is under `prefix` and belongs to a dead process, so a concurrent test run
    /// and everybody else's loop devices are left alone.
    static func removeLeftovers() {
        let isLeftover: (String) -> Bool = { path in
            guard path.hasPrefix(prefix) else { return false }
            let pidText = path.dropFirst(prefix.count).prefix { $0.isNumber }
            guard let pid = pid_t(pidText) else { return false }
            return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
        }
        // ext4 mounts first (their images may sit on the tmpfs mounts), deepest paths first.
        let mounts = mountTable().filter { isLeftover($0.point) }.sorted { $0.point.count > $1.point.count }
        for mount in mounts where mount.type != "tmpfs" { unmountForCleanup(mount.point) }
        if let listing = try? SystemCommand.run("losetup", ["-l", "-n", "-O", "NAME,BACK-FILE"]) {
            for line in listing.split(separator: "\n") {
                let fields = line.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if fields.count == 2, isLeftover(fields[1]) { _ = try? SystemCommand.run("losetup", ["-d", fields[0]]) }
            }
        }
        for mount in mounts where mount.type == "tmpfs" { unmountForCleanup(mount.point) }
        let stillMounted = mountPoints()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [] {
            let path = "/tmp/" + name
            if isLeftover(path) && !stillMounted.contains(where: { $0.hasPrefix(path + "/") }) {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }

    private static func mountPoints() -> [String] { mountTable().map(\.point) }

    /// /proc/mounts as (mount point, filesystem type). Our paths have no characters that it escapes.
    private static func mountTable() -> [(point: String, type: String)] {
        guard let text = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count >= 3 ? (String(fields[1]), String(fields[2])) : nil
        }
    }
}
