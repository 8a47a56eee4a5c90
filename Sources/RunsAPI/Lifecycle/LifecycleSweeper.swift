import Logging
import RunJournal
import SystemSupport

/// Applies the idle watchdog and stop grace to runs that nobody is streaming, so a run's fate never depends
/// on whether someone watches it (the Ruby original only checked inside a stream).
///
/// Every `interval` it lists the non-terminal runs through the catalog (one `stat` per journal; summaries
/// are re-read only for journals that changed), records what it saw in `RunsContext.silence` (so a run
/// nobody streams is failed only after this process has watched it stay silent, see `LifecyclePolicy`; the
/// watchdog may therefore act up to one interval after the event's `ts` + timeout) and, for each run whose
/// deadline has passed, appends the
/// lifecycle event with `JournalStore.appendIf` — re-checked under the journal lock, so several responders
/// sweeping one directory, and the run's own streams, never double-append.
public final class LifecycleSweeper: Sendable {
    private let context: RunsContext
    private let intervalMillis: Int64
    private let wake = WakeSignal()

    public init(context: RunsContext, intervalSeconds: Double) {
        self.context = context
        self.intervalMillis = max(100, Int64(intervalSeconds * 1000))
    }

    /// One pass; returns the runs it acted on. Public so tests (and an operator command) can drive it.
    @discardableResult
    public func sweepOnce() -> [RunID] {
        let lifecycle = context.lifecycle
        var acted: [RunID] = []
        let runs: [RunSummary]
        do {
            runs = try context.catalog.list(statuses: [.queued, .running], limit: Int.max).runs
        } catch {
            context.logger.warning("sweep: cannot list runs", metadata: ["error": "\(error)"])
            return []
        }
        // Every pass sees every active run: that is how the silence of a run nobody streams gets observed.
        context.silence.retain(only: Set(runs.map(\.id)))
        let now = context.clock.nowMillis()
        for run in runs {
            let observed = context.silence.observe(run)
            guard let deadline = lifecycle.nextDeadline(run, now: now, observed: observed), now >= deadline else { continue }
            do {
                var decided: [NewEvent]?
                let appended = try context.store.appendIf(run.id) { fresh in
                    decided = lifecycle.overdueEvents(fresh, now: context.clock.nowMillis(), observed: context.silence.observe(fresh))
                    return decided
                }
                if appended != nil {
                    context.metrics.countLifecycleEvents(decided)
                    acted.append(run.id)
                    context.logger.info("sweep: lifecycle event appended", metadata: ["run": "\(run.id)"])
                }
            } catch JournalError.runNotFound {
                continue  // pruned meanwhile
            } catch {
                context.logger.warning("sweep: append failed", metadata: ["run": "\(run.id)", "error": "\(error)"])
            }
        }
        return acted
    }

    /// Sweeps on a background thread until the context's shutdown signal fires. Throws when the thread
    /// cannot be started: a responder without its sweeper would leave unwatched runs alone for ever, so
    /// `serve` does not start without it.
    public func start() throws(ThreadStartError) {
        context.shutdown.register(wake)
        do {
            try startDetachedThread(name: "rj-sweeper") { [self] in
                while !context.shutdown.isShuttingDown {
                    sweepOnce()
                    _ = wake.consume()
                    context.sleeper.sleep(untilMillis: context.clock.nowMillis() + intervalMillis, orUntil: wake)
                }
                context.shutdown.unregister(wake)
            }
        } catch {
            context.shutdown.unregister(wake)
            throw error
        }
    }
}
