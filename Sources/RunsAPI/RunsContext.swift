import Logging
import RunJournal

/// What the operations share: the store and catalog, the configuration, and the seams (clocks, sleeper,
/// follower) that tests replace to run streams in virtual time.
public struct RunsContext: Sendable {
    public let store: JournalStore
    public let catalog: RunCatalog
    public let configuration: RunsAPIConfiguration
    public let clock: any WallClock
    /// How long silences really lasted, whatever the wall clock does (see `SilenceObservations`).
    public let monotonicClock: any MonotonicClock
    /// What this responder has seen of each active run's silence, shared by its streams and its sweeper.
    public let silence: SilenceObservations
    public let sleeper: any StreamSleeper
    public let follower: any JournalFollowing
    public let shutdown: ShutdownSignal
    public let logger: Logger
    /// Counters and gauges of the API (swift-metrics; from the factory current when the context is made).
    public let metrics: APIMetrics
    /// The latest frames of each followed journal, shared by its live streams (see `SharedFrames`).
    public let frames = SharedFrames()
    /// Where parked streams' lifecycle appends run (off the transport's event loop).
    public let lifecycleActions: LifecycleActions
    /// What `GET /metrics` renders; nil (the default) answers it 404. `serve` sets it after bootstrapping.
    public var metricsExposition: (any MetricsExposition)?

    public init(
        store: JournalStore, configuration: RunsAPIConfiguration, follower: any JournalFollowing,
        clock: (any WallClock)? = nil, monotonicClock: (any MonotonicClock)? = nil,
        sleeper: (any StreamSleeper)? = nil, shutdown: ShutdownSignal = ShutdownSignal(), logger: Logger = Logger(label: "runjournal.api")
    ) {
        self.store = store
        self.catalog = RunCatalog(directory: store.directory, logger: logger, indexMode: store.fileModes.journal)
        self.configuration = configuration
        let clock = clock ?? store.clock
        self.clock = clock
        // A clock that can answer both (the system clock, a test's virtual clock) is used for both.
        let monotonicClock = monotonicClock ?? (clock as? any MonotonicClock) ?? SystemMonotonicClock()
        self.monotonicClock = monotonicClock
        self.silence = SilenceObservations(clock: monotonicClock)
        self.sleeper = sleeper ?? RealSleeper(clock: clock)
        self.follower = follower
        self.shutdown = shutdown
        self.logger = logger
        self.metrics = APIMetrics()
        self.lifecycleActions = LifecycleActions(logger: logger)
    }

    public var lifecycle: LifecyclePolicy { LifecyclePolicy(configuration: configuration) }

    /// Parses the `:id` of a route (400 for a malformed id: it never becomes a path).
    func runID(_ text: String) throws -> RunID {
        try RunID(text)
    }
}
