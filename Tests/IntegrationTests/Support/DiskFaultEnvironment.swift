import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether this machine can run the real-disk fault tests: they mount loop devices, so they need root,
/// the loop driver and the e2fsprogs/util-linux tools. Where one is missing the tests are skipped with
/// the reason printed, instead of failing on a developer's machine that cannot do it.
enum DiskFaultEnvironment {
    /// Why the tests cannot run here, or nil when they can. Printed once, on first use.
    static let unavailableReason: String? = {
        let reason = findUnavailableReason()
        if let reason {
            FileHandle.standardError.write(Data("disk-fault tests skipped: \(reason)\n".utf8))
        }
        return reason
    }()

    static var isAvailable: Bool { unavailableReason == nil }

    private static func findUnavailableReason() -> String? {
        if geteuid() != 0 { return "not running as root (mount and losetup need it)" }
        if access("/dev/loop-control", R_OK | W_OK) != 0 { return "no /dev/loop-control (no loop device support)" }
        for tool in ["mkfs.ext4", "e2fsck", "losetup", "mount", "umount", "fstrim", "fallocate"] where ChildProcess.find(tool) == nil {
            return "\(tool) is not installed (deploy/scripts/install-deps.sh --test installs it)"
        }
        return nil
    }
}
