#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// A "verifying 1200/100000" line on stderr for long scans — only when stderr is a terminal, so pipes and
/// logs stay clean.
final class ProgressLine {
    private let total: Int
    private let label: String
    private let enabled: Bool
    private var lastDrawn: Int64 = 0
    private var visible = false

    init(total: Int, label: String) {
        self.total = total
        self.label = label
        self.enabled = isatty(2) == 1 && total > 200
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let now = MonotonicTime.now().milliseconds
        guard now - lastDrawn >= 100 else { return }
        lastDrawn = now
        writeStandardError("\r\(label) \(done)/\(total)")
        visible = true
    }

    func clear() {
        guard visible else { return }
        writeStandardError("\r\u{1B}[K")
        visible = false
    }
}
