import Configuration
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What `serve` (or `config check`) was started with: the `--config` file, the process environment and the
/// settings given as flags (key → value, only those on the command line).
public struct ConfigurationInput: Sendable {
    public var configFile: String?
    public var environment: [String: String]
    public var flags: [String: ConfigContent]

    public init(configFile: String?, environment: [String: String], flags: [String: ConfigContent]) {
        self.configFile = configFile
        self.environment = environment
        self.flags = flags
    }
}

/// The effective settings and where each came from.
public struct ResolvedConfiguration: Sendable {
    public var settings: ServeSettings
    /// By key name; every key of `SettingKey.all` is present.
    public var sources: [String: SettingSource]
}

/// Resolves the settings from three sources, flags over environment over config file over defaults.
///
/// swift-configuration's providers do the reading: `JSONSnapshot`/`YAMLSnapshot` parse the file,
/// `EnvironmentVariablesProvider` (keys prefixed `RUNJOURNAL_`) and `InMemoryProvider` (the flags) answer typed
/// lookups. The precedence is applied here, provider by provider, rather than by `ConfigReader`, because a reader
/// answers only the winning value and turns a value it cannot convert into the default: this service must name
/// the source of every value and refuse a bad value in any source, even one another source overrides. The library
/// has no way to list a file's keys either; the parsers report every key they meet to the secrets specifier,
/// which is where the unknown ones are caught.
public enum ConfigurationResolver {
    /// Environment variables with the prefix that are not settings: `RUNJOURNAL_DIR` is the older name of
    /// `journal.dir` (every other subcommand reads it), `RUNJOURNAL_NOW` fixes "now" for the ops commands.
    public static let otherEnvironmentVariables: Set<String> = ["RUNJOURNAL_DIR", "RUNJOURNAL_NOW"]

    public static func resolve(_ input: ConfigurationInput) throws(ConfigurationError) -> ResolvedConfiguration {
        var layers: [Layer] = []  // highest precedence first
        layers.append(flagLayer(input.flags))
        layers.append(try environmentLayer(input.environment))
        if let path = input.configFile { layers.append(try fileLayer(path: path)) }

        var settings = ServeSettings()
        var sources: [String: SettingSource] = [:]
        for key in SettingKey.all {
            sources[key.name] = .defaultValue
            // Lowest precedence first, so the highest one stores last; every source's value is checked.
            for layer in layers.reversed() {
                guard let content = try layer.lookup(key) else { continue }
                let source = layer.source(key)
                guard key.store(&settings, content) else {
                    throw .badValue(source: source, key: key.name, expected: key.expected, got: show(content))
                }
                sources[key.name] = source
            }
        }
        if settings.socketPath != nil && settings.listenAddress != nil {
            throw .conflict(
                "listen.socket (\(sources["listen.socket"]!)) and listen.address (\(sources["listen.address"]!)) are both set; give one")
        }
        return ResolvedConfiguration(settings: settings, sources: sources)
    }

    // MARK: Layers

    /// One source, as typed lookups by setting.
    struct Layer {
        let snapshot: any ConfigSnapshot
        let source: (SettingKey) -> SettingSource
        /// A key that is set but in no type the setting accepts.
        let describeRaw: (SettingKey) -> String

        /// The value this source gives `key`, converted to the first type the setting accepts; nil if unset.
        func lookup(_ key: SettingKey) throws(ConfigurationError) -> ConfigContent? {
            var mismatch = false
            for type in key.types {
                do {
                    if let value = try snapshot.value(forKey: key.configKey, type: type).value { return value.content }
                } catch {
                    mismatch = true  // set, but not convertible to this type: try the next one
                }
            }
            guard mismatch else { return nil }
            throw .badValue(source: source(key), key: key.name, expected: key.expected, got: describeRaw(key))
        }
    }

    private static func flagLayer(_ flags: [String: ConfigContent]) -> Layer {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (name, content) in flags {
            guard let key = SettingKey.named(name) else { continue }  // flags are declared from the same table
            values[key.configKey] = ConfigValue(content, isSecret: key.isSecret)
        }
        let provider = InMemoryProvider(name: "flags", values: values)
        return Layer(
            snapshot: provider.snapshot(), source: { .flag($0.flag) },
            describeRaw: { flags[$0.name].map(show) ?? "?" })
    }

    private static func environmentLayer(_ environment: [String: String]) throws(ConfigurationError) -> Layer {
        let known = Dictionary(uniqueKeysWithValues: SettingKey.all.map { ($0.environmentVariable, $0) })
        var settingVariables: [String: String] = [:]
        for (variable, value) in environment where variable.hasPrefix(SettingKey.environmentPrefix) {
            if otherEnvironmentVariables.contains(variable) { continue }
            guard known[variable] != nil else { throw .unknownKey(source: .environment(variable: variable), key: variable) }
            // An empty variable is unset, as in a shell or a systemd EnvironmentFile line `X=`.
            if !value.isEmpty { settingVariables[variable] = value }
        }
        // The older RUNJOURNAL_DIR still names the journal directory, below RUNJOURNAL_JOURNAL_DIR.
        let journalDirectory = SettingKey.named("journal.dir")!.environmentVariable
        var aliased: Set<String> = []
        if settingVariables[journalDirectory] == nil, let older = environment["RUNJOURNAL_DIR"], !older.isEmpty {
            settingVariables[journalDirectory] = older
            aliased.insert(journalDirectory)
        }
        // The provider encodes `runjournal.stream.heartbeat_seconds` as RUNJOURNAL_STREAM_HEARTBEAT_SECONDS.
        let provider = KeyMappingProvider(upstream: EnvironmentVariablesProvider(environmentVariables: settingVariables)) {
            AbsoluteConfigKey(["runjournal"] + $0.components, context: $0.context)
        }
        return Layer(
            snapshot: provider.snapshot(),
            source: { key in
                .environment(variable: aliased.contains(key.environmentVariable) ? "RUNJOURNAL_DIR" : key.environmentVariable)
            },
            describeRaw: { key in quoted(settingVariables[key.environmentVariable] ?? "") })
    }

    private static func fileLayer(path: String) throws(ConfigurationError) -> Layer {
        let data = try read(path)
        let keysSeen = KeyCollector()
        let snapshot: any ConfigSnapshot
        let lowered = path.lowercased()
        do {
            if lowered.hasSuffix(".json") {
                snapshot = try JSONSnapshot(
                    data: data.bytes, providerName: path,
                    parsingOptions: .init(secretsSpecifier: .dynamic { key, _ in
                        keysSeen.add(key)
                        return false
                    }))
            } else if lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") {
                snapshot = try YAMLSnapshot(
                    data: data.bytes, providerName: path,
                    parsingOptions: .init(secretsSpecifier: .dynamic { key, _ in
                        keysSeen.add(key)
                        return false
                    }))
            } else {
                throw ConfigurationError.unparsableFile(path: path, reason: "the name must end in .json, .yaml or .yml")
            }
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw .unparsableFile(path: path, reason: "\(error)")
        }
        let known = Set(SettingKey.all.map(\.name))
        let sections = Set(SettingKey.all.compactMap { $0.name.split(separator: ".").count > 1 ? String($0.name.split(separator: ".")[0]) : nil })
        /// `auth:` with every key under it commented out is an empty section, not a value.
        func isEmptySection(_ key: String) -> Bool {
            guard sections.contains(key), let value = try? snapshot.value(forKey: AbsoluteConfigKey([key]), type: .string).value,
                case .string(let text) = value.content
            else { return false }
            return ["", "~", "null"].contains(text)
        }
        if let unknown = keysSeen.keys.sorted().first(where: { !known.contains($0) && !isEmptySection($0) }) {
            throw .unknownKey(source: .configFile(path: path), key: unknown)
        }
        return Layer(
            snapshot: snapshot, source: { _ in .configFile(path: path) },
            describeRaw: { key in
                (try? snapshot.value(forKey: key.configKey, type: .string).value).flatMap { $0.map { show($0.content) } }
                    ?? "a value of another type"
            })
    }

    private static func read(_ path: String) throws(ConfigurationError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadableFile(path: path, reason: String(cString: strerror(errno))) }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            return try handle.readToEnd() ?? Data()
        } catch {
            throw .unreadableFile(path: path, reason: "\(error)")
        }
    }

    /// The keys a file parser met (it reports each to the secrets specifier, from its own thread of control).
    final class KeyCollector: Sendable {
        private let seen = Mutex<[String]>([])

        func add(_ key: String) { seen.withLock { $0.append(key) } }
        var keys: [String] { seen.withLock { $0 } }
    }

    // MARK: Display

    static func show(_ content: ConfigContent) -> String {
        switch content {
        case .string(let text): return quoted(text)
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .bool(let value): return String(value)
        default: return "a list"
        }
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
