import ArgumentParser
import ServeConfiguration

/// `runjournal config`: the configuration of `serve`.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Inspect the configuration of runjournal serve.",
        subcommands: [ConfigCheckCommand.self]
    )
}

/// `runjournal config check [--config FILE] [serve flags]`: resolves the configuration as `serve` would and prints
/// every setting with its source, so an operator can see what a start would use without starting one. Exit 2 with
/// the same message `serve` gives when the configuration is bad. The secrets' files are never read.
struct ConfigCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Print the effective serve configuration and where each value came from.",
        discussion: """
            Sources, highest first: flags, RUNJOURNAL_* environment variables (the key upper-cased, '.' → '_', \
            e.g. RUNJOURNAL_STREAM_HEARTBEAT_SECONDS), the --config file, the defaults. An unknown key or a bad \
            value in any source is an error naming the source and the key.
            """
    )

    @OptionGroup var settings: ServeSettingFlags

    func run() throws {
        let resolved = try settings.resolve()
        let output = StandardOutput()
        try output.write(ConfigurationReport.render(resolved))
        try output.flush()
    }
}
