import ArgumentParser
import RunJournal
import SystemSupport

#if canImport(Glibc)
import Glibc
#endif

/// `runjournal exec [--id ID] [--metadata JSON] -- COMMAND ARGS...`: any command becomes a run. Its output
/// lines become events, its end the run's terminal event, and a stop request (API or `runjournal stop`)
/// ends it. The parts live in Exec/: the spawn, the line splitting and mapping, the batching appender, the
/// stop watcher.
struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command as a run: its output lines become events, its exit the run's end.",
        discussion: """
            Creates the run (its id is printed on stderr) or takes over the queued run --id names, appends \
            run.started, then one event per output line: stdout {"line":…}, stderr {"line":…}, or the event a \
            stdout line spells as {"type":…,"data":…} (any type outside run.*). Lines longer than 64 KiB are \
            split into pieces marked "continued":true; invalid UTF-8 becomes U+FFFD.
            Exit 0 → run.completed; other exit → run.failed (reason exit_code or signal). A stop request \
            sends SIGTERM to the command's process group, SIGKILL after --stop-grace, and ends the run as \
            run.stopped. SIGINT/SIGTERM sent to exec are passed on to the command.
            Exit status: the command's (128 + signal number when a signal ended it); 1 when the run cannot \
            be created or started, 127 when the command cannot be started.
            """
    )

    @OptionGroup var journal: JournalOptions
    @OptionGroup var fsync: FsyncOption
    @Option(help: "The run id (default: a new time-ordered id); an existing queued run with this id is taken over.") var id: String?
    @Option(help: "A JSON object stored as the run's metadata (for a new run).") var metadata: String?
    @Option(help: ArgumentHelp("Seconds between SIGTERM and SIGKILL when the run is asked to stop.", valueName: "seconds"))
    var stopGrace: Double = 10
    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the command after --: runjournal exec -- COMMAND ARGS...") }
        guard stopGrace >= 0, stopGrace.isFinite else { throw ValidationError("--stop-grace must be >= 0") }
    }

    func run() throws {
        // Before any thread starts, the store's interval flusher included (threads inherit the mask): SIGINT and
        // SIGTERM are taken by the forwarding thread with sigwait. The child gets an empty mask and default
        // dispositions from posix_spawn.
        var forwarded = sigset_t()
        sigemptyset(&forwarded)
        sigaddset(&forwarded, SIGINT)
        sigaddset(&forwarded, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &forwarded, nil)
        let store = try journal.openStore(fsync: try fsync.policy())

        let runID = try createOrTakeOver(store)
        writeStandardError("\(runID.rawValue)\n")

        let child: SpawnedChild
        do {
            child = try SpawnedChild.spawn(command)
        } catch {
            var data = JSONWriter()
            data.object { $0.key("reason"); $0.string("spawn_failed"); $0.key("message"); $0.string("\(error)") }
            _ = try? store.appendIf(runID) { _ in [NewEvent(type: .failed, compactData: data.bytes)] }
            throw CLIFailure("\(error)", exitCode: 127)
        }
        let startNanos = ConditionLock.monotonicNanos()
        let stopper = ChildStopper(processGroup: child.pid, graceSeconds: stopGrace)

        let started = NewEvent(type: .started, compactData: startedData(pid: child.pid))
        let startedSeqs: ClosedRange<Int64>?
        do {
            startedSeqs = try store.appendIf(runID) { $0.status == .queued ? [started] : nil }
        } catch {
            _ = kill(-child.pid, SIGKILL)
            _ = ChildExit.wait(for: child.pid)
            throw error
        }
        guard let startedSeqs else {
            _ = kill(-child.pid, SIGKILL)
            _ = ChildExit.wait(for: child.pid)
            throw CLIFailure("run \(runID) was started by someone else meanwhile")
        }

        try startSignalForwarding(forwarded, to: stopper)
        let appender = BatchAppender(store: store, id: runID)
        try appender.start()
        let pumps = [
            OutputPump(fd: child.stdout, stream: .stdout, appender: appender),
            OutputPump(fd: child.stderr, stream: .stderr, appender: appender),
        ]
        for pump in pumps { try pump.start() }

        // Stop requests: followed from just after run.started; one made while the run was queued counts too.
        let reader = try store.openReader(runID)
        let watchFrom = try reader.offset(afterSeq: startedSeqs.upperBound)
        let watcher = try StopWatcher(path: reader.path, from: watchFrom) {
            try? startDetachedThread(name: "rj-exec-stopper", stackSize: 64 * 1024) { stopper.stop() }
        }
        try watcher.start()
        if try store.summary(of: runID).stopRequested {
            try startDetachedThread(name: "rj-exec-stopper", stackSize: 64 * 1024) { stopper.stop() }
        }

        let exit = ChildExit.wait(for: child.pid)
        stopper.childExited()
        let durationMillis = Int64((ConditionLock.monotonicNanos() - startNanos) / 1_000_000)
        waitForOutput(pumps)
        watcher.finish()
        let (remaining, dropped) = appender.close()

        // What the appender still holds (the journal was refusing appends): one more try, in batches, then
        // the terminal event, which counts whatever could not be written.
        var unwritten = remaining[...]
        var lastError: (any Error)?
        while !unwritten.isEmpty {
            let batch = unwritten.prefix(8192)
            do { _ = try store.append(runID, Array(batch)) } catch {
                lastError = error
                break
            }
            unwritten = unwritten.dropFirst(batch.count)
        }
        let terminal = terminalEvent(exit, stopped: stopper.stopRequested, durationMillis: durationMillis, dropped: dropped + unwritten.count)
        do {
            _ = try store.appendIf(runID) { _ in [terminal] }
        } catch {
            lastError = error
        }
        if let lastError {
            appender.reportFailure(lastError)
            if !unwritten.isEmpty { writeStandardError("runjournal: run \(runID): \(dropped + unwritten.count) output lines were not written\n") }
        }
        Glibc.exit(exit.processExitCode)
    }

    /// A new run, or the existing one `--id` names when it is queued (made by `create` or the API for exec
    /// to pick up). Any other existing run is refused.
    private func createOrTakeOver(_ store: JournalStore) throws -> RunID {
        let requested = try id.map(JournalOptions.runID)
        do {
            return try store.create(id: requested, metadata: metadata.map { Array($0.utf8) }).id
        } catch JournalError.runExists(let existing) {
            let summary = try store.summary(of: existing)
            guard summary.status == .queued else {
                throw CLIFailure("run \(existing) already exists and is \(summary.status.rawValue); only a queued run can be taken over")
            }
            return existing
        }
    }

    private func startedData(pid: pid_t) -> [UInt8] {
        var cwd = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let directory = getcwd(&cwd, cwd.count) != nil ? String(cString: cwd) : ""
        var data = JSONWriter()
        data.object {
            $0.key("argv")
            $0.array { array in for argument in command { array.string(argument) } }
            $0.key("pid"); $0.int(Int64(pid))
            $0.key("cwd"); $0.string(directory)
        }
        return data.bytes
    }

    private func terminalEvent(_ exit: ChildExit, stopped: Bool, durationMillis: Int64, dropped: Int) -> NewEvent {
        var data = JSONWriter()
        let type: EventType = stopped ? .stopped : (exit == .exited(0) ? .completed : .failed)
        data.object {
            if stopped {
                $0.key("reason"); $0.string("stop_requested")
            } else if type == .failed {
                $0.key("reason")
                if case .signaled = exit { $0.string("signal") } else { $0.string("exit_code") }
            }
            switch exit {
            case .exited(let code): $0.key("exit_code"); $0.int(Int64(code))
            case .signaled(let signal): $0.key("signal"); $0.string(SignalName.of(signal))
            }
            $0.key("duration_ms"); $0.int(durationMillis)
            if dropped > 0 { $0.key("dropped_lines"); $0.int(dropped) }
        }
        return NewEvent(type: type, compactData: data.bytes)
    }

    /// Waits for both pipes to reach end of file; a grandchild holding one open is given two seconds after
    /// the child's end, then abandoned (its later output is not recorded: the run has ended).
    private func waitForOutput(_ pumps: [OutputPump]) {
        let deadline = ConditionLock.monotonicNanos() + 2_000_000_000
        while !pumps.allSatisfy(\.isDone) {
            if ConditionLock.monotonicNanos() >= deadline { pumps.forEach { $0.abandon() } }
            usleep(1_000)
        }
    }

    private func startSignalForwarding(_ signals: sigset_t, to stopper: ChildStopper) throws {
        try startDetachedThread(name: "rj-exec-signals", stackSize: 64 * 1024) {
            var mask = signals
            var number: Int32 = 0
            while true {
                if sigwait(&mask, &number) == 0 { stopper.forward(number) }
            }
        }
    }
}
