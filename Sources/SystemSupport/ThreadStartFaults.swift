#if canImport(Glibc)
import Glibc
#endif

/// The fault seam of `startDetachedThread`: makes the next starts of a thread *by name* fail with an errno,
/// as if `pthread_create` had, so tests reach the "no thread" paths without exhausting the machine. By name,
/// so a test's fault is not taken by an unrelated thread of a test running in parallel.
public enum ThreadStartFaults {
    private static let pending = LockedValue<[String: (count: Int, errno: Int32)]>([:])

    /// The next `count` starts of threads named `name` fail with `errno`.
    public static func failNext(_ count: Int = 1, named name: String, errno: Int32 = EAGAIN) {
        pending.withLock { $0[name] = (count, errno) }
    }

    /// How many forced failures for `name` are still pending.
    public static func remaining(named name: String) -> Int {
        pending.withLock { $0[name]?.count ?? 0 }
    }

    static func take(_ name: String) -> Int32? {
        pending.withLock { pending in
            guard let fault = pending[name], fault.count > 0 else { return nil }
            pending[name] = fault.count > 1 ? (fault.count - 1, fault.errno) : nil
            return fault.errno
        }
    }
}
