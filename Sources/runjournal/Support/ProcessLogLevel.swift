import Logging
import Synchronization

/// The level of loggers made from now on. swift-log's bootstrap runs once, before the command line is parsed,
/// and a handler takes its level when its logger is made; `serve` learns its `log.level` only after resolving
/// its configuration, so the bootstrap's factory reads the level from here and `serve` sets it before it makes
/// any logger. Other commands keep the start value: `RUNJOURNAL_LOG_LEVEL`, else info.
enum ProcessLogLevel {
    private static let level = Mutex<Logger.Level>(ProcessEnvironment.logLevel)

    static var current: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}
