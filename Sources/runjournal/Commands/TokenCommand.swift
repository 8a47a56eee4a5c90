import ArgumentParser
import RunsAPI

/// `runjournal token new`: makes a bearer token for the tokens file. The secret is printed once and never
/// stored; the file gets only its SHA-256.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Make access tokens for serve --auth-tokens.",
        subcommands: [NewTokenCommand.self]
    )
}

struct NewTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Print a new random secret (once) and the tokens-file line that grants it.",
        discussion: """
            Add the printed line to the tokens file and send SIGHUP to runjournal serve (or restart it). Give the \
            secret to the client, which sends it as Authorization: Bearer <secret>. Scopes: read (show, list, \
            stream), write (create, append, stop; implies read), admin (/metrics; implies both).
            """
    )

    @Argument(help: "A name for the token, shown in logs (letters, digits, '.', '_', '-', '@').")
    var name: String

    @Option(help: ArgumentHelp("Comma-separated scopes: read, write, admin.", valueName: "scopes"))
    var scopes: String

    @Option(help: ArgumentHelp("Confine the token to these runs: a run id, or a prefix and '*' (acme-*).", valueName: "pattern"))
    var runs: String?

    func validate() throws {
        guard TokensFile.parseName(name) else {
            throw ValidationError("the name must be 1 to 64 letters, digits, '.', '_', '-' or '@' (got \(name))")
        }
        guard AccessScope.strongest(of: scopes) != nil else {
            throw ValidationError("--scopes must be a comma-separated list of read, write, admin (got \(scopes))")
        }
        if let runs, RunPattern(runs) == nil {
            throw ValidationError("--runs must be a run id, or a run id prefix followed by '*' (got \(runs))")
        }
    }

    func run() throws {
        let secret = TokenSecret.generate()
        var line = [name, scopes, TokenSecret.hexDigest(of: secret)]
        if let runs { line.append(runs) }
        print("""
            secret (shown only now; the client sends it as "Authorization: Bearer <secret>"):
            \(secret)
            line for the tokens file:
            \(line.joined(separator: " "))
            """)
    }
}
