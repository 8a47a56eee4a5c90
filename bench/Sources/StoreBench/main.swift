import RunJournal
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Journal store benchmark: appends (single, batched, fsync=always against a bare write+fdatasync loop)
// and scanning a 1M-event journal, all in one run on one directory so every figure shares a disk.
//
// Usage: StoreBench <scratch-dir> [--quick] [--only NAME,…]   (normally through bench/run-store-bench.sh)
// NAMEs: single, single-json, batch, sync, group, read.
//
// Every benchmark runs several times and prints the median and the best wall-clock rate, and for the
// CPU-bound ones also the rate per CPU-second of the benchmarking thread: on a shared machine the wall
// clock includes time spent waiting for a core, the thread's CPU time does not.

// MARK: - Harness

enum Clock {
    static func nanos(_ clock: clockid_t) -> UInt64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
    static var wall: UInt64 { nanos(CLOCK_MONOTONIC) }
    static var threadCPU: UInt64 { nanos(CLOCK_THREAD_CPUTIME_ID) }
}

struct Sample {
    var wallRate: Double
    var cpuRate: Double
}

/// Runs `body` `repetitions` times; each run returns how many units it did.
func measure(_ repetitions: Int, _ body: (Int) throws -> Int) rethrows -> [Sample] {
    var samples: [Sample] = []
    for repetition in 0..<repetitions {
        let wall = Clock.wall
        let cpu = Clock.threadCPU
        let units = Double(try body(repetition))
        let wallSeconds = Double(Clock.wall - wall) / 1e9
        let cpuSeconds = Double(Clock.threadCPU - cpu) / 1e9
        samples.append(Sample(wallRate: units / wallSeconds, cpuRate: units / max(cpuSeconds, 1e-9)))
    }
    return samples
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func format(_ value: Double, decimals: Int = 0) -> String {
    if decimals == 0 {
        let digits = String(Int(value.rounded()))
        var out = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0, index % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return String(out.reversed())
    }
    var scale = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((value * Double(scale)).rounded())
    var fraction = String(scaled % scale)
    while fraction.count < decimals { fraction = "0" + fraction }
    return "\(scaled / scale).\(fraction)"
}

/// How a result is shown: `scale` divides rates (1e9 turns bytes/s into GB/s).
struct Unit {
    var name: String
    var scale: Double = 1
    var decimals = 0
    static let events = Unit(name: "events/s")
    static let appends = Unit(name: "appends/s")
    static let gigabytes = Unit(name: "GB/s", scale: 1e9, decimals: 2)
    func show(_ rate: Double) -> String { "\(format(rate / scale, decimals: decimals)) \(name)" }
}

/// Prints one table row. `target` is judged on the best wall-clock run (the least disturbed one).
func row(_ name: String, _ samples: [Sample], _ unit: Unit, target: Double? = nil, showCPU: Bool = true) {
    let wall = samples.map(\.wallRate)
    let cpu = samples.map(\.cpuRate)
    var verdict = "—"
    if let target { verdict = "≥ \(unit.show(target)): \(wall.max()! >= target ? "met" : "NOT met")" }
    print("| \(name) | \(unit.show(median(wall))) | \(unit.show(wall.max()!)) | \(showCPU ? unit.show(median(cpu)) : "—") | \(verdict) |")
}

func fail(_ message: String) -> Never {
    let bytes = Array("StoreBench: \(message)\n".utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress!, $0.count) }
    exit(1)
}

/// Opens a scratch file for the bare-syscall floors.
func openScratch(_ path: String) -> Int32 {
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { fail("open \(path): \(String(cString: strerror(errno)))") }
    return fd
}

// MARK: - Parameters

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: StoreBench <scratch-dir> [--quick] [--only NAME,…]") }
let scratch = arguments[1]
let quick = arguments.contains("--quick")
let only: Set<String>? = arguments.firstIndex(of: "--only").flatMap { index in
    index + 1 < arguments.count ? Set(arguments[index + 1].split(separator: ",").map(String.init)) : nil
}
func selected(_ name: String) -> Bool { only?.contains(name) ?? true }

let singleEvents = quick ? 20_000 : 200_000
let batchEvents = quick ? 200_000 : 2_000_000
let syncedAppends = quick ? 200 : 1_000
let readEvents = quick ? 100_000 : 1_000_000
let repetitions = quick ? 3 : 5

/// A realistic small event: one line of a tool's output.
let eventType = try! EventType("tool.output")
let eventJSON = Array(#"{"stream":"stdout","text":"Compiling RunJournal JournalStore.swift (17 of 42)"}"#.utf8)
let event = try! NewEvent(type: eventType, json: eventJSON)
/// The journal line the store writes for `event` (same length), for the bare-syscall floors.
var sampleLine = [UInt8]()
EventLine.append(seq: 123_456, millis: 1_795_568_523_456, type: eventType, compactData: event.data, to: &sampleLine)

let runCounter = Atomic<Int>(0)
func freshRun(_ store: JournalStore) throws -> RunID {
    let id = try RunID("bench-\(runCounter.add(1, ordering: .relaxed).newValue)")
    try store.create(id: id)
    return id
}

// MARK: - Benchmarks

do {
    let never = try JournalStore(directory: scratch, fsyncPolicy: .never)
    let always = try JournalStore(directory: scratch, fsyncPolicy: .always)
    print("journal line: \(sampleLine.count) bytes; \(repetitions) runs each")
    print("")
    print("| benchmark | median | best | median per CPU-second | target (on best) |")
    print("|---|---|---|---|---|")

    if selected("single") {
        // The floors: what the same line costs with bare syscalls and no store at all.
        row("floor: bare write(2) loop", measure(repetitions) { repetition in
            let fd = openScratch(scratch + "/floor-write-\(repetition).log")
            defer { close(fd) }
            sampleLine.withUnsafeBytes { raw in
                for _ in 0..<singleEvents where write(fd, raw.baseAddress!, raw.count) != raw.count { fail("write failed") }
            }
            return singleEvents
        }, .events)
        row("floor: bare flock+fstat+write+unlock loop", measure(repetitions) { repetition in
            let fd = openScratch(scratch + "/floor-locked-\(repetition).log")
            defer { close(fd) }
            var info = stat()
            sampleLine.withUnsafeBytes { raw in
                for _ in 0..<singleEvents {
                    guard flock(fd, LOCK_EX) == 0, fstat(fd, &info) == 0, write(fd, raw.baseAddress!, raw.count) == raw.count,
                        flock(fd, LOCK_UN) == 0
                    else { fail("locked write failed") }
                }
            }
            return singleEvents
        }, .events)
        // The store's append path: locks, fstat, formatting, one write(2). Events are pre-validated, as the
        // HTTP API hands them over.
        row("append 1 event/call, fsync=never", try measure(repetitions) { _ in
            let id = try freshRun(never)
            for _ in 0..<singleEvents { try never.append(id, [event]) }
            return singleEvents
        }, .events, target: 200_000)
    }

    if selected("single-json") {
        // The same, plus validating and compacting each event's JSON (the CLI's and a producer's path).
        row("append 1 event/call incl. JSON validation, fsync=never", try measure(repetitions) { _ in
            let id = try freshRun(never)
            for _ in 0..<singleEvents { try never.append(id, [try NewEvent(type: eventType, json: eventJSON)]) }
            return singleEvents
        }, .events)
    }

    if selected("batch") {
        let batch = Array(repeating: event, count: 100)
        row("append batches of 100, fsync=never", try measure(repetitions) { _ in
            let id = try freshRun(never)
            for _ in 0..<(batchEvents / 100) { try never.append(id, batch) }
            return batchEvents
        }, .events, target: 1_000_000)
    }

    if selected("sync") {
        // fsync=always against its floor, a bare write(2)+fdatasync(2) loop of a same-sized line in the same
        // directory. Runs alternate between the two so both see the same disk weather.
        var bare: [Sample] = []
        var store: [Sample] = []
        for repetition in 0..<repetitions {
            bare += measure(1) { _ in
                let fd = openScratch(scratch + "/floor-sync-\(repetition).log")
                defer { close(fd) }
                sampleLine.withUnsafeBytes { raw in
                    for _ in 0..<syncedAppends {
                        guard write(fd, raw.baseAddress!, raw.count) == raw.count, fdatasync(fd) == 0 else { fail("bare sync failed") }
                    }
                }
                return syncedAppends
            }
            store += try measure(1) { _ in
                let id = try freshRun(always)
                for _ in 0..<syncedAppends { try always.append(id, [event]) }
                return syncedAppends
            }
        }
        row("floor: bare write(2)+fdatasync(2) loop", bare, .appends, showCPU: false)
        row("append 1 event/call, fsync=always", store, .appends, target: bare.map(\.wallRate).max()! / 2, showCPU: false)
        let medianRatio = median(bare.map(\.wallRate)) / median(store.map(\.wallRate))
        let bestRatio = bare.map(\.wallRate).max()! / store.map(\.wallRate).max()!
        print("| fsync=always time per append ÷ bare loop's | \(format(medianRatio, decimals: 2))x | \(format(bestRatio, decimals: 2))x | — | ≤ 2x: \(bestRatio <= 2 ? "met" : "NOT met") |")
    }

    if selected("group") {
        // Group commit: 4 threads appending to one run with fsync=always share each fdatasync.
        row("append fsync=always, 4 threads on one run (group commit)", try measure(repetitions) { _ in
            let id = try freshRun(always)
            let failures = Atomic<Int>(0)
            let done = Atomic<Int>(0)
            for _ in 0..<4 {
                try startDetachedThread {
                    for _ in 0..<syncedAppends {
                        do { try always.append(id, [event]) } catch { failures.add(1, ordering: .relaxed) }
                    }
                    done.add(1, ordering: .releasing)
                }
            }
            while done.load(ordering: .acquiring) < 4 { usleep(500) }
            if failures.load(ordering: .relaxed) > 0 { fail("group commit appends failed") }
            return 4 * syncedAppends
        }, .events, showCPU: false)
    }

    if selected("read") {
        // A 1M-event journal, written in batches, then read with the store's reader. The page cache is warm
        // (it was just written), so this measures the reader, not the disk: every line's envelope is
        // scanned, seq and ts decoded, and the line handed to a callback.
        let readID = try freshRun(never)
        let batch = Array(repeating: event, count: 1000)
        var written = 1
        while written < readEvents {
            let count = min(batch.count, readEvents - written)
            try never.append(readID, Array(batch.prefix(count)))
            written += count
        }
        let journal = try never.openReader(readID)
        let size = try journal.size()
        print("| (read journal: \(format(Double(readEvents))) events, \(format(Double(size) / 1e6, decimals: 1)) MB) | | | | |")

        row("read/scan the journal with forEachLine", try measure(repetitions) { _ in
            var lines = 0
            var checksum: Int64 = 0
            try journal.forEachLine(from: 0) { line in
                lines += 1
                checksum &+= line.seq &+ line.fields.timestampMillis &+ Int64(line.data.count)
                return true
            }
            if lines != readEvents || checksum == 0 { fail("read \(lines) lines, expected \(readEvents)") }
            return Int(size)
        }, .gigabytes, target: 1e9)

        row("summary from scratch (a fresh store reads the whole journal)", try measure(repetitions) { _ in
            let store = try JournalStore(directory: scratch, fsyncPolicy: .never)
            let summary = try store.summary(of: readID)
            if summary.lastSeq != Int64(readEvents) { fail("summary lastSeq \(summary.lastSeq)") }
            return Int(size)
        }, .gigabytes)

        let seeks = quick ? 2_000 : 10_000
        row("offset(afterSeq:) bisection, random seqs", try measure(repetitions) { _ in
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<seeks {
                let seq = Int64.random(in: 1...Int64(readEvents), using: &generator)
                _ = try journal.offset(afterSeq: seq)
            }
            return seeks
        }, Unit(name: "seeks/s"))

        row("verify (every line's data re-validated as JSON)", try measure(quick ? 1 : 2) { _ in
            let report = try JournalVerifier.verify(path: journal.path)
            if !report.isClean { fail("verify found problems: \(report.problems.prefix(3))") }
            return Int(size)
        }, .gigabytes)
    }
} catch {
    fail("\(error)")
}
