import ArgumentParser
import RunsAPI

/// `serve`'s access-control flags (config keys `auth.tokens_file`, `auth.signing_key_file`).
struct AuthOptions: ParsableArguments {
    @Option(
        name: .customLong("auth-tokens"),
        help: ArgumentHelp(
            "Tokens file (NAME SCOPES SHA256 [RUN-PATTERN] per line); turns access control on. Re-read on SIGHUP.",
            valueName: "file"))
    var tokensFile: String?

    @Option(
        name: .customLong("signing-key-file"),
        help: ArgumentHelp(
            "Key (32+ bytes) that signs stream tokens; default: a random key made at start. Re-read on SIGHUP.",
            valueName: "file"))
    var signingKeyFile: String?

    var settings: AuthSettings { AuthSettings(tokensFile: tokensFile, signingKeyFile: signingKeyFile) }
}
