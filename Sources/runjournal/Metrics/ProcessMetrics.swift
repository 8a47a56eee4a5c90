#if canImport(Glibc)
import Glibc
#endif
import CoreMetrics
import RunJournal
import SystemSupport

/// The responder's own footprint, sampled at each scrape: threads (one per open stream, plus a few), open
/// descriptors against their limit, memory, CPU time and start time, under the names Prometheus' own
/// clients use (`process_*`), so stock dashboards find them.
///
/// Why sampled at scrape time: these are read from the kernel (`/proc/self`, `getrusage`), and nothing in the
/// request path should pay for them.
final class ProcessMetrics: @unchecked Sendable {
    private let threads: Gauge
    private let openDescriptors: Gauge
    private let maxDescriptors: Gauge
    private let residentBytes: Gauge
    private let virtualBytes: Gauge
    private let startTime: Gauge
    private let cpuSeconds: FloatingPointCounter
    /// The CPU time already counted: the counter only goes up, by what was used since the last scrape.
    private var countedCPUSeconds = 0.0
    private let lock = ConditionLock()

    static let descriptions: [MetricDescription] = [
        MetricDescription("process_threads", help: "Threads of the responder (a stream holds one)."),
        MetricDescription("process_open_fds", help: "Open file descriptors."),
        MetricDescription("process_max_fds", help: "Soft limit of open file descriptors (RLIMIT_NOFILE)."),
        MetricDescription("process_resident_memory_bytes", help: "Resident set size in bytes."),
        MetricDescription("process_virtual_memory_bytes", help: "Virtual memory size in bytes."),
        MetricDescription("process_start_time_seconds", help: "When the responder started, in seconds since the Unix epoch."),
        MetricDescription("process_cpu_seconds_total", help: "User and system CPU time used, in seconds."),
    ]

    init(startedAtMillis: Int64, factory: any MetricsFactory = MetricsSystem.factory) {
        threads = Gauge(label: "process_threads", factory: factory)
        openDescriptors = Gauge(label: "process_open_fds", factory: factory)
        maxDescriptors = Gauge(label: "process_max_fds", factory: factory)
        residentBytes = Gauge(label: "process_resident_memory_bytes", factory: factory)
        virtualBytes = Gauge(label: "process_virtual_memory_bytes", factory: factory)
        startTime = Gauge(label: "process_start_time_seconds", factory: factory)
        cpuSeconds = FloatingPointCounter(label: "process_cpu_seconds_total", factory: factory)
        startTime.record(Double(startedAtMillis) / 1000)
    }

    /// Reads the current values into the gauges (concurrent scrapes take turns).
    func sample() {
        lock.withLock {
            let status = Self.procStatus()
            if let count = status["Threads"] { threads.record(count) }
            if let kib = status["VmRSS"] { residentBytes.record(kib * 1024) }
            if let kib = status["VmSize"] { virtualBytes.record(kib * 1024) }
            if let count = Self.openDescriptorCount() { openDescriptors.record(count) }
            var limit = rlimit()
            if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxDescriptors.record(Int64(clamping: limit.rlim_cur)) }
            var usage = rusage()
            if getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 {
                let used = Self.seconds(usage.ru_utime) + Self.seconds(usage.ru_stime)
                if used > countedCPUSeconds {
                    cpuSeconds.increment(by: used - countedCPUSeconds)
                    countedCPUSeconds = used
                }
            }
        }
    }

    private static func seconds(_ time: timeval) -> Double {
        Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000
    }

    /// The numeric fields of `/proc/self/status` (`Threads:  12`, `VmRSS:  5120 kB` → 5120).
    static func procStatus() -> [String: Int64] {
        guard let text = readSmallFile("/proc/self/status") else { return [:] }
        var fields: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            // `Name:<tabs and spaces>value[ kB]`
            let value = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).first
            if let value, let number = Int64(value) {
                fields[String(line[..<colon])] = number
            }
        }
        return fields
    }

    /// Entries of `/proc/self/fd`, not counting the descriptor that lists them.
    static func openDescriptorCount() -> Int64? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var count: Int64 = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let fd = Int32(name), fd != own else { continue }
            count += 1
        }
        return count
    }

    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
