#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A thread the system would not start: `pthread_create` failed (EAGAIN: out of threads, memory or the
/// `TasksMax` of the service). Not fatal: a responder at its thread limit keeps serving what it already
/// serves, and each caller decides what to do without its thread (see the callers of `startDetachedThread`).
public struct ThreadStartError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which thread could not be started.
    public let name: String
    /// The error number `pthread_create` returned.
    public let errno: Int32

    public init(name: String, errno: Int32) {
        self.name = name
        self.errno = errno
    }

    public var description: String { "cannot start the \(name) thread: \(String(cString: strerror(errno)))" }
}

/// Starts a detached pthread running `body`. For the few long-lived background threads of the store, the
/// tailer, the sweeper and the CLI; a plain pthread keeps Foundation out of them. Throws when the system
/// refuses the thread: that happens when the process is out of threads or memory, which used to trap and
/// take every stream of the responder down with it.
public func startDetachedThread(
    name: String = "background", stackSize: Int = 512 * 1024, _ body: @escaping @Sendable () -> Void
) throws(ThreadStartError) {
    if let forced = ThreadStartFaults.take(name) { throw ThreadStartError(name: name, errno: forced) }
    final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, stackSize)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, &attributes, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    guard result == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        throw ThreadStartError(name: name, errno: result)
    }
}

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
