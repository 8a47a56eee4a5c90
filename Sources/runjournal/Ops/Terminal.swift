#if canImport(Glibc)
import Glibc
#endif

/// ANSI styling for the ops tools' human output, and the one place that decides whether to use it:
/// only when the output is a terminal and `NO_COLOR` is unset or empty (https://no-color.org), so pipes,
/// files and `| grep` always get plain text.
struct Terminal {
    let colours: Bool

    static func forStandardOutput() -> Terminal { Terminal(colours: coloursWanted(fd: 1)) }

    static func coloursWanted(fd: Int32) -> Bool {
        if let noColor = getenv("NO_COLOR"), noColor.pointee != 0 { return false }
        return isatty(fd) == 1
    }

    enum Style: String {
        case dim = "\u{1B}[2m"
        case bold = "\u{1B}[1m"
        case red = "\u{1B}[1;31m"
        case green = "\u{1B}[1;32m"
        case yellow = "\u{1B}[1;33m"
        case cyan = "\u{1B}[1;36m"
        case magenta = "\u{1B}[35m"
    }

    static let reset = Array("\u{1B}[0m".utf8)

    /// `text` wrapped in `style` (unchanged without colours).
    func paint(_ text: String, _ style: Style) -> String {
        colours ? style.rawValue + text + "\u{1B}[0m" : text
    }

    func begin(_ style: Style, into out: inout OutputBuffer) throws {
        if colours { try out.append(style.rawValue) }
    }

    func end(into out: inout OutputBuffer) throws {
        if colours { try out.append(Terminal.reset) }
    }

    /// The style of a run status in tables.
    static func style(of status: String) -> Style? {
        switch status {
        case "failed": return .red
        case "completed": return .green
        case "stopped": return .yellow
        case "running": return .cyan
        default: return nil
        }
    }
}
