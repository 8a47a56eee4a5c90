/// Aligned text columns for `ls`, `prune` and `stats`: widths from the cells themselves (not from escape
/// codes, which are added after padding), numbers right-aligned, the last column never padded.
struct Table {
    enum Alignment { case left, right }

    struct Column {
        var title: String
        var alignment: Alignment = .left
    }

    var columns: [Column]
    private(set) var rows: [[String]] = []
    /// Per-cell styles, applied after padding so colours never break the alignment.
    private(set) var styles: [[Terminal.Style?]] = []

    init(_ columns: [Column]) { self.columns = columns }

    mutating func add(_ cells: [String], styles cellStyles: [Terminal.Style?] = []) {
        rows.append(cells)
        styles.append(cellStyles)
    }

    /// The table as UTF-8 text, one line per row (a header first when `header`), each ending in `\n`.
    /// Built as bytes: `ls` renders 100,000 rows, and per-cell string concatenation would dominate it.
    func render(terminal: Terminal, header: Bool = true) -> [UInt8] {
        var widths = columns.map { header ? Self.width($0.title) : 0 }
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], Self.width(cell)) }
        }
        // Drop trailing columns that are empty in every row (a REASON column with no reasons).
        var used = columns.count
        while used > 1, rows.allSatisfy({ $0.count < used || $0[used - 1].isEmpty }) { used -= 1 }
        var out: [UInt8] = []
        out.reserveCapacity((rows.count + 1) * (widths.reduce(0, +) + 2 * used + 1))
        func line(_ cells: [String], _ cellStyles: [Terminal.Style?], bold: Bool) {
            let lineStart = out.count
            for index in 0..<used {
                let cell = index < cells.count ? cells[index] : ""
                let padding = widths[index] - Self.width(cell)
                let last = index == used - 1
                let style = bold ? .bold : (index < cellStyles.count ? cellStyles[index] : nil)
                if columns[index].alignment == .right { out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding)) }
                if let style, terminal.colours, !cell.isEmpty { out.append(contentsOf: style.rawValue.utf8) }
                out.append(contentsOf: cell.utf8)
                if style != nil, terminal.colours, !cell.isEmpty { out.append(contentsOf: Terminal.reset) }
                if columns[index].alignment == .left, !last { out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding)) }
                if !last { out.append(contentsOf: "  ".utf8) }
            }
            // A blank last cell leaves trailing spaces from the separator: trim them.
            while out.count > lineStart, out.last == UInt8(ascii: " ") { out.removeLast() }
            out.append(0x0A)
        }
        if header { line(columns.map(\.title), [], bold: true) }
        for (row, cellStyles) in zip(rows, styles) { line(row, cellStyles, bold: false) }
        return out
    }

    /// Display width, counted in Unicode scalars (UTF-8 lead bytes): right for the ASCII and accented text
    /// that run ids, statuses and reasons hold.
    static func width(_ text: String) -> Int {
        var count = 0
        for byte in text.utf8 where byte & 0xC0 != 0x80 { count += 1 }
        return count
    }
}
