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

    /// The table as text, one line per row (a header first when `header`), each ending in `\n`.
    func render(terminal: Terminal, header: Bool = true) -> String {
        var widths = columns.map { header ? $0.title.count : 0 }
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        // Drop trailing columns that are empty in every row (a REASON column with no reasons).
        var used = columns.count
        while used > 1, rows.allSatisfy({ $0.count < used || $0[used - 1].isEmpty }) { used -= 1 }
        var out = ""
        func line(_ cells: [String], _ cellStyles: [Terminal.Style?], bold: Bool) {
            var text = ""
            for index in 0..<used {
                let cell = index < cells.count ? cells[index] : ""
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                let last = index == used - 1
                var shown = cell
                if let style = index < cellStyles.count ? cellStyles[index] : nil { shown = terminal.paint(cell, style) }
                if bold { shown = terminal.paint(cell, .bold) }
                switch columns[index].alignment {
                case .left: text += shown + (last ? "" : padding)
                case .right: text += padding + shown
                }
                if !last { text += "  " }
            }
            // A blank last cell leaves trailing spaces from the separator: trim them.
            while text.hasSuffix(" ") { text.removeLast() }
            out += text + "\n"
        }
        if header { line(columns.map(\.title), [], bold: true) }
        for (row, cellStyles) in zip(rows, styles) { line(row, cellStyles, bold: false) }
        return out
    }
}
