import Foundation
import RunJournal
import Testing
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The viewer (deploy/www) in a real browser: headless Chromium (Debian's `chromium`) opens `/runs/<id>`
/// through the shipped nginx config in front of a real responder while a run is produced, the way a person
/// would watch it. Runs are executed with `runjournal exec` when the binary has it, else produced with
/// `runjournal append` (the journal directly, so the producer goes on while the responder is down).
///
/// The browser loads a small harness page (served from a temporary directory through one extra nginx
/// location) that shows the viewer in a same-origin iframe, posts a snapshot of the viewer's DOM (rows by
/// seq and type, the status badge, the stream state, horizontal overflow) to a report run whenever it
/// changes, and clicks what a control run tells it to. So the test reads what the reader sees from a
/// journal: no DevTools protocol.
@Suite("Viewer: live run page in headless Chromium", .serialized)
struct ViewerBrowserTests {
    static let harness = """
        <!doctype html>
        <html><body style="margin:0"><script>
        const params = new URLSearchParams(location.search);
        const frame = document.createElement('iframe');
        frame.src = params.get('path');
        frame.style.cssText = `width:${params.get('width') || 1000}px;height:700px;border:0`;
        document.body.append(frame);
        function snapshot() {
          const d = frame.contentDocument;
          if (!d || !d.body || !d.querySelector('#main')) return null;
          const rows = [...d.querySelectorAll('li.event')];
          return {
            seqs: rows.map((r) => Number(r.dataset.seq)),
            types: rows.map((r) => r.dataset.type),
            times: rows.map((r) => r.querySelector('time')?.dateTime ?? ''),
            status: d.querySelector('#run-status .badge')?.textContent ?? '',
            stream: d.querySelector('#stream-state')?.textContent ?? '',
            stop_visible: Boolean(d.querySelector('#stop') && !d.querySelector('#stop').hidden),
            runs: [...d.querySelectorAll('tr[data-run-id]')].map((r) => [r.dataset.runId, ...[...r.cells].map((c) => c.textContent)]),
            overflow: d.documentElement.scrollWidth - d.documentElement.clientWidth,
            dialog_open: Boolean(d.querySelector('dialog[open]')),
            log_top: d.querySelector('#log')?.scrollTop ?? -1,
            log_at_bottom: (() => { const l = d.querySelector('#log'); return Boolean(l) && l.scrollTop + l.clientHeight >= l.scrollHeight - 24; })(),
            jump_visible: Boolean(d.querySelector('#jump') && !d.querySelector('#jump').hidden),
          };
        }
        // With access control on, the harness's own requests carry the token it was given (the viewer's do not:
        // it must ask the reader).
        const auth = params.get('token') ? {Authorization: `Bearer ${params.get('token')}`} : {};
        let last = '';
        async function tick() {
          const state = snapshot();
          const text = state && JSON.stringify(state);
          if (text && text !== last) {
            try {
              const answer = await fetch(`/v1/runs/${params.get('report')}/events`, {
                method: 'POST', headers: {'Content-Type': 'application/json', ...auth}, body: JSON.stringify({type: 'snapshot', data: state})});
              if (answer.ok) last = text;
            } catch (e) { /* the responder is restarting: the next tick sends it */ }
          }
          setTimeout(tick, 150);
        }
        tick();
        // A restarted responder without a signing key refuses the old stream token: mint again, go on after
        // the last control event (not replay the clicks).
        let lastControlID = '';
        async function follow() {
          const query = new URLSearchParams();
          if (params.get('token')) {
            try {
              const minted = await (await fetch(`/v1/runs/${params.get('control')}/stream-tokens`, {method: 'POST', headers: auth})).json();
              query.set('access_token', minted.token);
            } catch (e) { setTimeout(follow, 500); return; }
          }
          if (lastControlID) query.set('last_event_id', lastControlID);
          const control = new EventSource(`/v1/runs/${params.get('control')}/events?${query}`);
          control.onerror = () => { if (control.readyState === EventSource.CLOSED) setTimeout(follow, 500); };
          for (const type of ['click', 'scroll', 'fill']) control.addEventListener(type, (e) => { lastControlID = e.lastEventId; });
          control.addEventListener('click', (e) => frame.contentDocument.querySelector(JSON.parse(e.data).selector).click());
          control.addEventListener('scroll', (e) => {
            const {selector, top} = JSON.parse(e.data);
            frame.contentDocument.querySelector(selector).scrollTop = top;
          });
          control.addEventListener('fill', (e) => {
            const {selector, value} = JSON.parse(e.data);
            frame.contentDocument.querySelector(selector).value = value;
          });
        }
        follow();
        </script></body></html>
        """

    /// What the harness reports of the viewer's DOM.
    struct Snapshot: Decodable {
        var seqs: [Int64]
        var types: [String]
        /// Each row's `<time datetime>`: the event's ts as the page shows it.
        var times: [String]
        var status: String
        var stream: String
        var stop_visible: Bool
        var runs: [[String]]
        var overflow: Int
        var dialog_open: Bool
        var log_top: Double
        var log_at_bottom: Bool
        var jump_visible: Bool
    }

    /// nginx (shipped config plus the harness location) in front of a responder that can be restarted on
    /// the same socket and journals.
    final class Stack: @unchecked Sendable {
        let directory: TemporaryDirectory
        let site: TemporaryDirectory
        let journal: String
        let socket: String
        var responder: RunJournalProcess?
        let nginx: WebServerFixture

        let flags: [String]

        /// `flags`: more `runjournal serve` flags (say, `--auth-tokens FILE`).
        init(flags: [String] = []) throws {
            self.flags = flags
            directory = try TemporaryDirectory(prefix: "viewer")
            site = try TemporaryDirectory(prefix: "site")
            try ViewerBrowserTests.harness.write(toFile: site.file("harness.html"), atomically: true, encoding: .utf8)
            _ = chmod(site.path, 0o755)
            journal = try directory.makeDirectory("journal")
            socket = directory.file("rj.sock")
            nginx = try WebServerFixture.start(
                .nginx, socketPath: socket,
                configEdits: [("server_name localhost;", "server_name localhost;\n        location = /harness.html { root \(site.path); }")])
            try startResponder()
        }

        func startResponder() throws {
            let process = try RunJournalProcess(
                arguments: ["serve", "--journal", journal, "--socket", socket, "--idle-timeout", "off", "--retry-ms", "300"] + flags,
                directory: try TemporaryDirectory(prefix: "rjv"))
            let socket = self.socket
            guard waitUntil(timeout: .seconds(20), { !process.isRunning || UnixSocketProbe.isAccepting(socket) }), process.isRunning else {
                throw ChildProcess.SpawnError(description: "runjournal serve did not start: \(process.stderr)")
            }
            responder = process
        }

        func stopResponder() {
            responder?.stop()
            responder = nil
            unlink(socket)
        }

        private let retained = LockedValue<[AnyObject & Sendable]>([])
        func retain(_ object: AnyObject & Sendable) { retained.withLock { $0.append(object) } }

        var client: E2EClient { E2EClient(port: nginx.port) }
        func url(_ path: String) -> String { nginx.url(path) }
        func lines(_ run: String) -> [E2EJournalLine] { E2EJournalLine.read(journal, run) }

        /// The harness's latest snapshot in the report run `report`.
        func snapshot(_ report: String) -> Snapshot? {
            guard let last = lines(report).last(where: { $0.type == "snapshot" }) else { return nil }
            return try? JSONDecoder().decode(Snapshot.self, from: Data(last.data.utf8))
        }

        deinit {
            nginx.stop()
            responder?.stop()
        }
    }

    /// A headless Chromium showing `url`; killed (with its whole group) by `close()`.
    final class Browser: @unchecked Sendable {
        let process: ChildProcess
        let profile: TemporaryDirectory

        init(_ url: String, windowSize: String = "1100,800") throws {
            let chromium = try #require(ChildProcess.find("chromium"), "chromium is not installed (deploy/scripts/install-deps.sh --test)")
            profile = try TemporaryDirectory(prefix: "chromium")
            process = try ChildProcess(
                executable: chromium,
                arguments: Browser.flags(profile) + ["--window-size=\(windowSize)", "--remote-debugging-port=0", url],
                stdout: .file(profile.file("chromium.log")), stderr: .file(profile.file("chromium.log")))
        }

        static func flags(_ profile: TemporaryDirectory) -> [String] {
            ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
             "--user-data-dir=\(profile.file("profile"))"]
        }

        var log: String { String(((try? String(contentsOfFile: profile.file("chromium.log"), encoding: .utf8)) ?? "").suffix(1500)) }

        func close() {
            process.signalGroup(SIGKILL)
            _ = process.wait(timeout: .seconds(30))
        }

        /// `chromium --screenshot` of `url` at `windowSize` into `path`; true when a PNG was written.
        static func screenshot(_ url: String, to path: String, windowSize: String) throws -> Bool {
            let chromium = try #require(ChildProcess.find("chromium"))
            let profile = try TemporaryDirectory(prefix: "shot")
            let process = try ChildProcess(
                executable: chromium,
                arguments: flags(profile) + ["--window-size=\(windowSize)", "--virtual-time-budget=3000", "--screenshot=\(path)", url],
                stdout: .file(profile.file("log")), stderr: .file(profile.file("log")))
            defer { process.signalGroup(SIGKILL); _ = process.wait(timeout: .seconds(30)) }
            _ = process.wait(timeout: .seconds(120))
            guard let png = FileManager.default.contents(atPath: path) else { return false }
            return png.starts(with: [0x89, 0x50, 0x4E, 0x47])
        }
    }

    /// Produces runs the way a user would: `runjournal exec` when the binary has it, else `runjournal
    /// append` from a shell loop (both write the journal directly, not through the responder). The run is
    /// created (queued) first through the API, so the page can be open before the producer starts; exec
    /// takes a queued run over.
    struct Producer {
        let process: ChildProcess

        /// `runjournal exec --help` succeeds and is exec's own help (for an unknown subcommand the binary
        /// prints its overall help, also with status 0).
        static let hasExec: Bool = {
            guard let binary = try? TestPaths.runjournalBinary(), let directory = try? TemporaryDirectory(prefix: "help"),
                let process = try? ChildProcess(executable: binary, arguments: ["exec", "--help"], stdout: .file(directory.file("out")))
            else { return false }
            guard process.wait(timeout: .seconds(60)).flatMap(ChildProcess.exitCode) == 0 else { return false }
            return ((try? String(contentsOfFile: directory.file("out"), encoding: .utf8)) ?? "").contains("runjournal exec")
        }()

        /// Runs `script` (sh) as the queued run `id`: with exec, `runjournal exec --id ID -- sh -c SCRIPT`
        /// (stdout lines become `stdout` events, the exit status the terminal event); without, the script's
        /// output is piped into `runjournal append --each` as `stdout` events (its lines must need no JSON
        /// escaping), followed by `run.completed`.
        init(_ stack: Stack, _ id: String, script: String, execArguments: [String] = []) throws {
            let binary = try TestPaths.runjournalBinary()
            let directory = try TemporaryDirectory(prefix: "prod")
            stack.retain(directory)
            if Self.hasExec {
                process = try ChildProcess(
                    executable: binary, arguments: ["exec", "--id", id, "--journal", stack.journal] + execArguments + ["--", "sh", "-c", script],
                    stdout: .file(directory.file("out.log")), stderr: .file(directory.file("err.log")))
                return
            }
            let wrapped = """
                set -e
                J='\(stack.journal)'; B='\(binary)'
                "$B" append --journal "$J" '\(id)' run.started '{"argv":["sh","-c"]}' >/dev/null
                ( \(script) ) | sed -u 's/.*/{"type":"stdout","data":{"line":"&"}}/' | "$B" append --journal "$J" '\(id)' - --each >/dev/null
                "$B" append --journal "$J" '\(id)' run.completed '{"exit_code":0}' >/dev/null
                """
            try wrapped.write(toFile: directory.file("produce.sh"), atomically: true, encoding: .utf8)
            process = try ChildProcess(
                executable: "/bin/sh", arguments: [directory.file("produce.sh")],
                stdout: .file(directory.file("out.log")), stderr: .file(directory.file("err.log")))
        }

        /// Ends the producer and everything it started (exec passes SIGTERM on to its child).
        func stop() {
            process.signalGroup(SIGTERM)
            _ = process.terminate(grace: .seconds(15))
        }
    }

    /// Opens the harness on `path` reporting to `report`, controlled by `control`.
    static func openHarness(_ stack: Stack, path: String, report: String, control: String, width: Int = 1000) async throws -> Browser {
        try await stack.client.createRun(id: report)
        try await stack.client.createRun(id: control)
        return try Browser(stack.url("/harness.html?path=\(path)&report=\(report)&control=\(control)&width=\(width)"))
    }

    static func waitForSnapshot(_ stack: Stack, _ report: String, _ condition: (Snapshot) -> Bool) async -> Snapshot? {
        var matched: Snapshot?
        _ = await pollUntil(timeout: .seconds(180)) {
            guard let snapshot = stack.snapshot(report), condition(snapshot) else { return false }
            matched = snapshot
            return true
        }
        return matched
    }

    @Test("a run is shown live, every event once and in order, ending with its final status; also at 360 px")
    func liveRunInOrder() async throws {
        let stack = try Stack()
        // Narrow: the page must work at 360 px without scrolling sideways.
        try await stack.client.createRun(id: "job-1")
        let browser = try await Self.openHarness(stack, path: "/runs/job-1", report: "report-1", control: "control-1", width: 360)
        defer { browser.close() }
        // The page follows the queued run before anything runs, so the events arrive live.
        let watching = await Self.waitForSnapshot(stack, "report-1") { $0.seqs == [1] && $0.stream == "live" }
        try #require(watching != nil, "the page showed \(String(describing: stack.snapshot("report-1"))); chromium: \(browser.log)")

        let producer = try Producer(stack, "job-1", script: "for i in $(seq 1 40); do echo \"line $i\"; sleep 0.02; done")
        defer { producer.stop() }
        let done = await Self.waitForSnapshot(stack, "report-1") { $0.status == "completed" && $0.seqs.count == stack.lines("job-1").count }
        let journal = stack.lines("job-1")
        let final = try #require(done, "the page showed \(String(describing: stack.snapshot("report-1"))); journal \(journal.count) lines; chromium: \(browser.log)")
        #expect(final.seqs == journal.map(\.seq), "rows by seq")
        #expect(final.types == journal.map(\.type))
        #expect(final.times == journal.map(\.ts), "the time column shows each event's own ts")
        #expect(final.types.filter { $0 == "stdout" }.count == 40)
        #expect(final.overflow <= 0, "the page scrolls sideways at 360 px by \(final.overflow) px")

        // Back to the list (the way a reader would: the link at the top): the run is there, completed.
        try await stack.client.append("control-1", "click", #"{"selector":"nav.crumbs a"}"#)
        let listed = await Self.waitForSnapshot(stack, "report-1") { $0.runs.contains { $0.first == "job-1" } }
        let row = try #require(listed?.runs.first { $0.first == "job-1" })
        #expect(row.dropFirst().contains("completed"), "list row \(row)")
        #expect(row.dropFirst().contains(String(journal.count)), "list row \(row): the event count is last_seq")
        #expect(listed?.overflow ?? 1 <= 0, "the list scrolls sideways at 360 px")

        // Screenshots, wide and narrow (set RUNJOURNAL_VIEWER_SCREENSHOTS=DIR to keep them, e.g. for docs/).
        let scratch = try TemporaryDirectory(prefix: "shots")
        let shots = ProcessInfo.processInfo.environment["RUNJOURNAL_VIEWER_SCREENSHOTS"] ?? scratch.path
        #expect(try Browser.screenshot(stack.url("/runs/job-1"), to: "\(shots)/viewer.png", windowSize: "1000,640"))
        #expect(try Browser.screenshot(stack.url("/runs/job-1"), to: "\(shots)/viewer-360.png", windowSize: "360,740"))
        #expect(try Browser.screenshot(stack.url("/"), to: "\(shots)/runs.png", windowSize: "1000,400"))
    }

    @Test("the Stop button ends a long-running run as run.stopped")
    func stopButtonStopsRun() async throws {
        let stack = try Stack()
        try await stack.client.createRun(id: "long")
        let producer = try Producer(stack, "long", script: "sleep 1000", execArguments: ["--stop-grace", "2"])
        // Without exec, the test answers the page's stop request the way exec does.
        let answerer: Task<Void, Never>? = Producer.hasExec ? nil : Task {
            _ = await pollUntil(timeout: .seconds(300)) { stack.lines("long").contains { $0.type == "run.stop_requested" } }
            _ = try? await stack.client.append("long", "run.stopped", #"{"reason":"stop_requested"}"#)
        }
        defer { producer.stop(); answerer?.cancel() }
        _ = await pollUntil(timeout: .seconds(60)) { stack.lines("long").contains { $0.type == "run.started" } }

        let browser = try await Self.openHarness(stack, path: "/runs/long", report: "report-2", control: "control-2")
        defer { browser.close() }
        let running = await Self.waitForSnapshot(stack, "report-2") { $0.status == "running" && $0.stop_visible }
        try #require(running != nil, "the page showed \(String(describing: stack.snapshot("report-2"))); chromium: \(browser.log)")

        try await stack.client.append("control-2", "click", ##"{"selector":"#stop"}"##)
        let stopped = await Self.waitForSnapshot(stack, "report-2") { $0.status == "stopped" }
        let journal = stack.lines("long")
        #expect(stopped != nil, "the page showed \(String(describing: stack.snapshot("report-2"))); journal: \(journal.map(\.type))")
        #expect(journal.last?.type == "run.stopped")
        #expect(journal.contains { $0.type == "run.stop_requested" })
        #expect(stopped?.types == journal.map(\.type))
        #expect(stopped?.stop_visible == false)
    }

    @Test("a responder restart mid-run loses and duplicates no event on the page")
    func responderRestartMidRun() async throws {
        let stack = try Stack()
        try await stack.client.createRun(id: "steady")
        let producer = try Producer(stack, "steady", script: "for i in $(seq 1 150); do echo \"tick $i\"; sleep 0.02; done")
        defer { producer.stop() }
        _ = await pollUntil(timeout: .seconds(60)) { !stack.lines("steady").isEmpty }
        let browser = try await Self.openHarness(stack, path: "/runs/steady", report: "report-3", control: "control-3")
        defer { browser.close() }

        let watching = await Self.waitForSnapshot(stack, "report-3") { $0.seqs.count >= 5 && $0.stream == "live" }
        try #require(watching != nil, "the page showed \(String(describing: stack.snapshot("report-3"))); chromium: \(browser.log)")
        let journalAtStop = stack.lines("steady").count
        stack.stopResponder()
        // The run goes on while nobody serves it: the page must pick these up after the restart.
        _ = await pollUntil(timeout: .seconds(60)) { stack.lines("steady").count >= journalAtStop + 20 }
        try stack.startResponder()

        let done = await Self.waitForSnapshot(stack, "report-3") { $0.status == "completed" && $0.seqs.count >= stack.lines("steady").count }
        let journal = stack.lines("steady")
        let final = try #require(done, "the page showed \(String(describing: stack.snapshot("report-3"))); journal \(journal.count) lines")
        #expect(final.seqs == journal.map(\.seq), "rows by seq: nothing lost, nothing twice")
        #expect(Set(final.seqs).count == final.seqs.count)
        #expect(final.types.filter { $0 == "stdout" }.count == 150)
    }

    @Test("with access control on, the page asks for a token once and then lists and follows runs with it")
    func asksForTokenOnce() async throws {
        let token = try IssuedToken.issue("viewer", scopes: "read,write")
        let secret = token.secret
        let files = try TemporaryDirectory(prefix: "auth")
        try AuthStack.writeTokens([token], in: files)
        let stack = try Stack(flags: ["--auth-tokens", files.file("tokens")])
        stack.retain(files)
        let binary = try TestPaths.runjournalBinary()
        func cli(_ arguments: [String]) throws {
            let process = try ChildProcess(executable: binary, arguments: arguments + ["--journal", stack.journal])
            #expect(process.wait(timeout: .seconds(60)).flatMap(ChildProcess.exitCode) == 0, "runjournal \(arguments)")
        }
        for id in ["guarded", "report-4", "control-4"] { try cli(["create", "--id", id]) }

        let browser = try Browser(stack.url("/harness.html?path=/runs/guarded&report=report-4&control=control-4&token=\(secret)"))
        defer { browser.close() }
        let asked = await Self.waitForSnapshot(stack, "report-4") { $0.dialog_open }
        try #require(asked != nil, "no token dialog: \(String(describing: stack.snapshot("report-4"))); chromium: \(browser.log)")
        try cli(["append", "control-4", "fill", ##"{"selector":"#token-input","value":"\##(secret)"}"##])
        try cli(["append", "control-4", "click", #"{"selector":".token-dialog button[type=submit]"}"#])

        let following = await Self.waitForSnapshot(stack, "report-4") { !$0.dialog_open && $0.seqs == [1] && $0.stream == "live" }
        try #require(following != nil, "the page showed \(String(describing: stack.snapshot("report-4")))")
        // A responder restarted without a signing key file has a new random key: the page's stream token is
        // refused (401) when its EventSource reconnects, and the page must mint a new one, without asking again.
        stack.stopResponder()
        try cli(["append", "guarded", "stdout", #"{"line":"hello"}"#])
        try stack.startResponder()
        try cli(["append", "guarded", "run.completed", "{}"])
        let done = await Self.waitForSnapshot(stack, "report-4") { $0.status == "completed" && $0.seqs.count == 3 }
        #expect(done?.seqs == [1, 2, 3], "the page showed \(String(describing: stack.snapshot("report-4"))); chromium: \(browser.log)")
        #expect(done?.dialog_open == false)

        // The list, in the same tab: no second question.
        try cli(["append", "control-4", "click", #"{"selector":"nav.crumbs a"}"#])
        let listed = await Self.waitForSnapshot(stack, "report-4") { $0.runs.contains { $0.first == "guarded" } }
        #expect(listed != nil && listed?.dialog_open == false, "the page showed \(String(describing: stack.snapshot("report-4")))")
    }

    @Test("the list: newest first, a failed run's reason, more pages with next_cursor, a status filter")
    func runList() async throws {
        let stack = try Stack()
        let binary = try TestPaths.runjournalBinary()
        func cli(_ arguments: [String]) throws {
            let process = try ChildProcess(executable: binary, arguments: arguments + ["--journal", stack.journal])
            #expect(process.wait(timeout: .seconds(60)).flatMap(ChildProcess.exitCode) == 0, "runjournal \(arguments)")
        }
        let harnessRuns = ["report-5", "control-5", "report-6", "control-6"]
        for id in harnessRuns { try cli(["create", "--id", id]) }
        let ids = (0..<56).map { String(format: "list-%02d", $0) }
        for id in ids {
            try cli(["create", "--id", id])
            try cli(["append", id, "run.started"])
        }
        try cli(["append", "list-50", "run.failed", #"{"reason":"exit_code","exit_code":2}"#])
        try cli(["append", "list-51", "run.completed"])

        let browser = try Browser(stack.url("/harness.html?path=/&report=report-5&control=control-5"))
        defer { browser.close() }
        let first = await Self.waitForSnapshot(stack, "report-5") { !$0.runs.isEmpty }
        let page = try #require(first, "chromium: \(browser.log)")
        // The API's order: newest first by id (server-made ids are time-ordered), 50 to a page here.
        let order = (ids + harnessRuns).sorted(by: >)
        #expect(page.runs.map { $0[0] } == Array(order.prefix(50)))
        let failed = try #require(page.runs.first { $0[0] == "list-50" })
        #expect(failed.contains("failed") && failed.contains("exit_code"), "\(failed)")

        try cli(["append", "control-5", "click", ##"{"selector":"#more"}"##])
        let all = await Self.waitForSnapshot(stack, "report-5") { $0.runs.count > 50 }
        #expect(all?.runs.map { $0[0] } == order)

        let filtered = try Browser(stack.url("/harness.html?path=/%3Fstatus%3Dfailed&report=report-6&control=control-6"))
        defer { filtered.close() }
        let onlyFailed = await Self.waitForSnapshot(stack, "report-6") { !$0.runs.isEmpty }
        #expect(onlyFailed?.runs.map { $0[0] } == ["list-50"])
    }

    @Test("auto-scroll follows new events, pauses when the reader scrolls up, resumes with Jump to latest")
    func autoScroll() async throws {
        let stack = try Stack()
        try await stack.client.createRun(id: "chatty")
        let browser = try await Self.openHarness(stack, path: "/runs/chatty", report: "report-7", control: "control-7")
        defer { browser.close() }
        _ = await Self.waitForSnapshot(stack, "report-7") { $0.stream == "live" }
        let producer = try Producer(stack, "chatty", script: "for i in $(seq 1 400); do echo \"chatter $i\"; sleep 0.03; done")
        defer { producer.stop() }

        let following = await Self.waitForSnapshot(stack, "report-7") { $0.seqs.count > 80 && $0.log_top > 0 && $0.log_at_bottom }
        try #require(following != nil, "the page showed \(String(describing: stack.snapshot("report-7")))")
        #expect(following?.jump_visible == false)

        // The reader scrolls to the top: new events keep arriving, the view stays where the reader put it.
        try await stack.client.append("control-7", "scroll", ##"{"selector":"#log","top":0}"##)
        let paused = await Self.waitForSnapshot(stack, "report-7") { $0.jump_visible && $0.log_top == 0 }
        let pausedAt = try #require(paused, "the page showed \(String(describing: stack.snapshot("report-7")))").seqs.count
        let later = await Self.waitForSnapshot(stack, "report-7") { $0.seqs.count > pausedAt + 30 }
        #expect(later?.log_top == 0 && later?.jump_visible == true, "the view moved while the reader was reading above")

        try await stack.client.append("control-7", "click", ##"{"selector":"#jump"}"##)
        let resumed = await Self.waitForSnapshot(stack, "report-7") { !$0.jump_visible && $0.log_at_bottom && $0.log_top > 0 }
        #expect(resumed != nil, "the page showed \(String(describing: stack.snapshot("report-7")))")
        let done = await Self.waitForSnapshot(stack, "report-7") { $0.status == "completed" }
        #expect(done?.log_at_bottom == true, "following again until the end")
    }
}
