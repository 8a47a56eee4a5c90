import CFastCGI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemSupport
import RunsAPI
import Synchronization

// Process-wide settings the server needs.
extension FastCGIServer {
    /// Each request and stream holds one descriptor (its connection): raise the soft limit to the hard
    /// one, and say so when even that is short of the configured concurrency.
    func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let needed = rlim_t(maxConcurrent + 64)
        if limit.rlim_cur < needed {
            logger.warning("the open-file limit is below what the configured concurrency needs", metadata: [
                "limit": "\(limit.rlim_cur)", "needed": "\(needed)",
            ])
        }
    }

    func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        _ = nanosleep(&request, nil)
    }
}
