#if canImport(Glibc)
import Glibc
#endif

/// A thread the system would not start: `pthread_create` failed (EAGAIN: out of threads, memory or the
/// `TasksMax` of the service). Not fatal: a responder at its thread limit keeps serving what it already
/// serves, and each caller decides what to do without its thread.
public struct ThreadStartError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which thread could not be started.
    public let name: String
    /// The error number `pthread_create` (or `pthread_attr_setstacksize`) returned.
    public let errno: Int32

    public init(name: String, errno: Int32) {
        self.name = name
        self.errno = errno
    }

    public var description: String { "cannot start the \(name) thread: \(String(cString: strerror(errno)))" }
}

/// Starts a detached, named pthread running `body`: the one way every module starts a thread (the store's
/// background work, the tailer's dispatch thread, the FastCGI acceptors and workers, the CLI's signal thread).
/// A plain pthread, not Foundation's `Thread`, because it can be given a stack small enough for ten thousand
/// parked streams and reports the errno when the system runs out of threads (which used to trap and take
/// every stream of the responder down with it). The name shows in `top -H` and gdb (Linux keeps 15 bytes).
/// `stackSize` nil keeps the system default. Returns the thread's id.
@discardableResult
public func startDetachedThread(
    name: String = "background", stackSize: Int? = 512 * 1024, _ body: @escaping @Sendable () -> Void
) throws(ThreadStartError) -> pthread_t {
    if let forced = ThreadStartFaults.take(name) { throw ThreadStartError(name: name, errno: forced) }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    if let stackSize {
        let status = pthread_attr_setstacksize(&attributes, stackSize)
        if status != 0 { throw ThreadStartError(name: name, errno: status) }
    }
    let context = Unmanaged.passRetained(ThreadStart(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(&thread, &attributes, { raw in
        let start = Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue()
        _ = pthread_setname_np(pthread_self(), start.shortName)
        start.body()
        return nil
    }, context)
    guard status == 0 else {
        Unmanaged<ThreadStart>.fromOpaque(context).release()
        throw ThreadStartError(name: name, errno: status)
    }
    return thread
}

/// `startDetachedThread` for callers that switch on the outcome instead of catching it.
public enum NativeThread {
    /// Starts `body` on a new detached thread named `name`; its id, or why it could not start.
    public static func spawn(
        name: String, stackSize: Int?, _ body: @escaping @Sendable () -> Void
    ) -> Result<pthread_t, ThreadStartError> {
        Result { () throws(ThreadStartError) in try startDetachedThread(name: name, stackSize: stackSize, body) }
    }
}

/// What the new thread needs, handed through `pthread_create`'s one pointer.
private final class ThreadStart {
    let shortName: String
    let body: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () -> Void) {
        // Linux limits thread names to 15 bytes; cut on a character boundary.
        var short = ""
        for character in name {
            guard short.utf8.count + character.utf8.count <= 15 else { break }
            short.append(character)
        }
        shortName = short
        self.body = body
    }
}

/// `pthread_setname_np(3)`, a GNU extension Glibc's Swift overlay does not export.
@_silgen_name("pthread_setname_np")
private func pthread_setname_np(_ thread: pthread_t, _ name: UnsafePointer<CChar>) -> Int32
