/// The text `runjournal config check` prints: every setting, its effective value and where it came from, one
/// per line, in the order of `SettingKey.all` (the order of deploy/runjournal.yaml).
public enum ConfigurationReport {
    public static func render(_ configuration: ResolvedConfiguration) -> String {
        let rows = SettingKey.all.map { key -> (String, String, String) in
            let value = key.isSecret ? "<masked>" : key.show(configuration.settings)
            return (key.name, value, configuration.sources[key.name]?.description ?? "default")
        }
        let nameWidth = rows.map(\.0.count).max() ?? 0
        let valueWidth = rows.map(\.1.count).max() ?? 0
        var text = "# effective configuration of runjournal serve (flag > environment > config file > default)\n"
        for (name, value, source) in rows {
            text += name.padded(nameWidth) + "  " + value.padded(valueWidth) + "  # " + source + "\n"
        }
        return text
    }
}

extension String {
    fileprivate func padded(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
