#if canImport(Glibc)
import Glibc
#endif

/// A value guarded by a pthread mutex: the lock every module uses for shared state instead of
/// `Synchronization.Mutex`.
///
/// ThreadSanitizer cannot see `Mutex` hand the lock over on Linux. A contended `Mutex` is a
/// priority-inheritance futex: the unlocking thread passes ownership to a waiter inside the kernel
/// (`FUTEX_UNLOCK_PI`), with no user-space atomic for the sanitizer to order the two critical sections by,
/// so every access a contended `Mutex` protects was reported as a data race — hundreds of reports that
/// would bury a real one. pthread mutexes are intercepted by the sanitizer and understood. They are also
/// what the hot paths already use (`JournalStore.openFilesLock`, `FastCGIServer.connectionsLock`):
/// `Mutex`'s spinning and priority-inheritance slow path cost the responder a fifth of its CPU under load.
///
/// The interface is `Mutex`'s: `withLock` hands the body the value `inout`, and neither the value nor
/// the result need be `Sendable` because they are transferred (`sending`) in and out.
public final class LockedValue<Value: ~Copyable>: @unchecked Sendable {
    // Heap-allocated: a pthread mutex must not move, and a Swift stored property may.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ initialValue: consuming sending Value) {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        value = initialValue
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the lock held and the value lent to it for reading and writing.
    public func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
