#if canImport(Glibc)
import Glibc
#endif

/// Starts a detached pthread running `body`. For the few long-lived background threads of the store, the
/// tailer, the sweeper and the CLI; a plain pthread keeps Foundation out of them. `name` says which thread
/// could not be started: that happens only when the process is out of threads or memory, which none of
/// these callers could recover from.
public func startDetachedThread(name: String = "background", stackSize: Int = 512 * 1024, _ body: @escaping @Sendable () -> Void) {
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
    precondition(result == 0, "pthread_create failed for \(name): \(String(cString: strerror(result)))")
}
