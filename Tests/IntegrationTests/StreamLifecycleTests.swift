import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The stream's timers and the server's lifecycle rules end to end, with short flags: heartbeat, the
/// `retry:` hint, the idle watchdog (in a stream and in the sweeper, and off), stop grace, two responders
/// on one journal directory, and SIGTERM. Waits are generous; nothing here asserts how fast.
@Suite("Stream: heartbeat, watchdog, stop grace, sweeper and shutdown")
struct StreamLifecycleTests {
    typealias Kind = WebServerFixture.Kind

    @Test("with --heartbeat 1 an idle stream gets `: heartbeat` comments", arguments: Kind.allCases)
    func sendsHeartbeats(kind: Kind) async throws {
        let stack = try E2EStack.shared(["--heartbeat", "1", "--retry-ms", "2500", "--idle-timeout", "off"])
        let api = stack.client(kind)
        let run = try await api.createRun(id: e2eUniqueID("beat"))
        let stream = try api.stream(run)
        #expect(await stream.wait(timeout: .seconds(20)) { $0.frames.filter { $0.comment == "heartbeat" }.count >= 2 }, "\(stream.text)")
        // Heartbeats come after the replay, as whole frames of their own.
        #expect(stream.text.hasPrefix("retry: 2500\n\nid: 1.\(E2EJournalLine.incarnation(stack.journalDirectory, run))\nevent: run.created\n"))
        #expect(stream.text.contains("\n\n: heartbeat\n\n"))
        #expect(!stream.ended)
    }

    @Test("--retry-ms sets the first frame, `retry: 2500`", arguments: Kind.allCases)
    func sendsTheConfiguredRetryFirst(kind: Kind) async throws {
        let api = try E2EStack.shared(["--heartbeat", "1", "--retry-ms", "2500", "--idle-timeout", "off"]).client(kind)
        let run = try await api.createRun(id: e2eUniqueID("retry"))
        let stream = try api.stream(run)
        #expect(await stream.wait(timeout: .seconds(20)) { $0.events.count == 1 })
        #expect(stream.frames.first == SSEFrameRecord(retry: 2500))
        #expect(stream.text.hasPrefix("retry: 2500\n\n"))
    }

    @Test("the watchdog of a stream fails an idle run with idle_timeout, streams run.failed and closes", arguments: Kind.allCases)
    func watchdogFailsAnIdleRunOnTheStream(kind: Kind) async throws {
        // A sweep interval of an hour: only the stream's own watchdog can act within the test.
        let stack = try E2EStack.shared(["--idle-timeout", "2", "--sweep-interval", "3600"])
        let api = stack.client(kind)
        // Nothing appended after the create: on a loaded machine a second request could already come late.
        let beforeCreate = ContinuousClock.now
        let run = try await api.createRun(id: e2eUniqueID("idle"))
        let stream = try api.stream(run)
        #expect(await stream.waitForEnd(timeout: .seconds(30)), "the watchdog never ended the stream: \(stream.text)")
        let sinceCreate = ContinuousClock.now - beforeCreate
        let last = try #require(stream.events.last, "\(stream.text)")
        #expect(last.id == 2)
        #expect(last.event == "run.failed")
        let data = try #require(last.data.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        #expect(data["reason"] as? String == "idle_timeout")
        // Measured from the last event, the create: at least the timeout, and no more than the time since
        // the create (the stream, and with it the watchdog, starts late when this machine stalls the test).
        let idleSeconds = try #require(data["idle_seconds"] as? Int)
        #expect(idleSeconds >= 2 && Duration.seconds(idleSeconds) <= sinceCreate + .seconds(1),
                "idle_seconds \(idleSeconds), \(sinceCreate) since the create")
        let lines = E2EJournalLine.read(stack.journalDirectory, run)
        #expect(lines.filter { $0.type == "run.failed" }.count == 1)
        #expect(lines.last?.data == last.data)
        #expect(try await api.show(run)["status"] as? String == "failed")
    }

    @Test("with --idle-timeout off an idle run is never failed, streamed or not", arguments: Kind.allCases)
    func idleTimeoutOffNeverFails(kind: Kind) async throws {
        let stack = try E2EStack.shared(["--idle-timeout", "off", "--sweep-interval", "0.5", "--heartbeat", "1"])
        let api = stack.client(kind)
        let streamed = try await api.createRun(id: e2eUniqueID("keep"))
        let unwatched = try await api.createRun(id: e2eUniqueID("keep"))
        let stream = try api.stream(streamed)
        // Four heartbeats: well past an idle timeout of 2 s and several sweeps.
        #expect(await stream.wait(timeout: .seconds(30)) { $0.frames.filter { $0.comment == "heartbeat" }.count >= 4 }, "\(stream.text)")
        #expect(!stream.ended)
        #expect(stream.events.map(\.event) == ["run.created"])
        for run in [streamed, unwatched] {
            #expect(E2EJournalLine.read(stack.journalDirectory, run).map(\.type) == ["run.created"])
            #expect(try await api.show(run)["status"] as? String == "queued")
        }
    }

    @Test("stop grace: after --stop-grace 2 the server appends run.stopped stop_grace_elapsed, streams it and closes",
          arguments: Kind.allCases)
    func stopGraceAppendsRunStopped(kind: Kind) async throws {
        let stack = try E2EStack.shared(["--stop-grace", "2", "--idle-timeout", "off", "--sweep-interval", "3600"])
        let api = stack.client(kind)
        let run = try await api.createRun(id: e2eUniqueID("grace"))
        try await api.append(run, "run.started")
        let stream = try api.stream(run)
        #expect(await stream.wait(timeout: .seconds(20)) { $0.events.count == 2 })
        let stop = try await api.post("/v1/runs/\(run)/stop")
        #expect(stop.status == 202)
        #expect(await stream.waitForEnd(timeout: .seconds(30)), "stop grace never ended the stream: \(stream.text)")
        #expect(stream.events.map(\.event) == ["run.created", "run.started", "run.stop_requested", "run.stopped"])
        #expect(stream.events.last?.data == #"{"reason":"stop_grace_elapsed"}"#)
        let lines = E2EJournalLine.read(stack.journalDirectory, run)
        #expect(lines.map(\.type) == ["run.created", "run.started", "run.stop_requested", "run.stopped"])
        let shown = try await api.show(run)
        #expect(shown["status"] as? String == "stopped")
        #expect(shown["stop_requested"] as? Bool == true)
    }

    @Test("the sweeper fails an idle run that nobody streams")
    func sweeperFailsAnUnwatchedIdleRun() async throws {
        let stack = try E2EStack.shared(["--idle-timeout", "2", "--sweep-interval", "0.5"])
        let api = stack.client(.nginx)
        let run = try await api.createRun(id: e2eUniqueID("sweep"))
        let failed = await e2eWait(timeout: .seconds(30)) {
            E2EJournalLine.read(stack.journalDirectory, run).contains { $0.type == "run.failed" }
        }
        #expect(failed, "no run.failed after 30 s: \(stack.log.suffix(2000))")
        let lines = E2EJournalLine.read(stack.journalDirectory, run)
        #expect(lines.map(\.type) == ["run.created", "run.failed"], "\(lines.map(\.line))")
        #expect(lines.last?.dataObject?["reason"] as? String == "idle_timeout")
        #expect(try await api.show(run)["status"] as? String == "failed")
    }

    @Test("two responders on one journal directory never double-append a lifecycle event")
    func twoRespondersNeverDoubleAppend() async throws {
        let journal = try TemporaryDirectory(prefix: "e2e2")
        let flags = ["--idle-timeout", "2", "--sweep-interval", "0.2", "--heartbeat", "1"]
        let first = try E2EStack(flags, kinds: [.nginx], journalDirectory: journal.path)
        let second = try E2EStack(flags, kinds: [.lighttpd], journalDirectory: journal.path)
        var runs: [String] = []
        var streams: [E2EConnection] = []
        // Streams open on both responders right after each create, so that when the run falls idle four
        // stream watchdogs and two sweepers all race to fail it.
        for _ in 0..<6 {
            let run = try await first.client(.nginx).createRun(id: e2eUniqueID("dual"))
            runs.append(run)
            for _ in 0..<2 {
                streams.append(try first.client(.nginx).stream(run))
                streams.append(try second.client(.lighttpd).stream(run))
            }
        }
        let allEnded = await E2EConnection.pumpAll(streams, timeout: .seconds(60)) { $0.allSatisfy(\.ended) }
        #expect(allEnded, "streams still open: \(streams.filter { !$0.ended }.count)")
        for run in runs {
            let lines = E2EJournalLine.read(journal.path, run)
            #expect(lines.filter { $0.type == "run.failed" }.count == 1, "\(run): \(lines.map(\.line))")
            #expect(lines.map(\.seq) == Array(1...Int64(lines.count)))
        }
        for stream in streams {
            #expect(stream.events.filter { $0.event == "run.failed" }.count == 1, "\(stream.text)")
        }
        let verify = try await e2eRunCLI(["verify", "--journal", journal.path] + runs)
        #expect(verify.code == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test("SIGTERM ends open streams (the client sees the end) and the responder exits 0")
    func sigtermEndsStreamsAndExitsZero() async throws {
        let stack = try E2EStack(["--heartbeat", "60"])
        let api = stack.client(.nginx)
        let run = try await api.createRun(id: "term")
        let curls = try Kind.allCases.map { try HTTPStream(stack.url($0, "/v1/runs/\(run)/events")) }
        let raw = try stack.client(.lighttpd).stream(run)
        for curl in curls {
            #expect(curl.read(until: { $0.contains("id: 1.") }, timeout: .seconds(20)), "\(curl.received)")
        }
        #expect(await raw.wait(timeout: .seconds(20)) { $0.events.count == 1 })

        stack.responder.signal(SIGTERM)
        for (kind, curl) in zip(Kind.allCases, curls) {
            #expect(curl.waitForEnd(timeout: .seconds(20)), "\(kind): curl did not see the end")
        }
        #expect(await raw.waitForEnd(timeout: .seconds(20)))
        let code = await e2eWait(timeout: .seconds(20)) { !stack.responder.isRunning }
        #expect(code, "the responder did not exit")
        #expect(stack.responder.waitForExit(timeout: .seconds(1)) == 0, "\(stack.log.suffix(2000))")
    }
}
