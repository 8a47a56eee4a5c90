import ArgumentParser

/// The subcommands, in the order `--help` lists them. One file per command under Commands/.
enum CommandRegistry {
    static let all: [any ParsableCommand.Type] = [
        CreateCommand.self,
        AppendCommand.self,
        ShowCommand.self,
        VerifyCommand.self,
        TailCommand.self,
        ReplayCommand.self,
        LsCommand.self,
        StopCommand.self,
        ExecCommand.self,
        PruneCommand.self,
        StatsCommand.self,
        ServeCommand.self,
        TokenCommand.self,
        ConfigCommand.self,
    ]
}
