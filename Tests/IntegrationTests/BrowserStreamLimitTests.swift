import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real browser at the stream cap: headless Chromium (Debian's `chromium`) opens an `EventSource` through
/// nginx while every `--max-streams` slot is taken, and must get in by itself once one frees. Before the
/// cap answered with a `retry:` hint, its 503 made EventSource give up for good.
///
/// The page reports what its EventSource sees by appending events to a second run (same origin, plain
/// `fetch`), so the test reads the browser's view from a journal: no DevTools protocol, no DOM dumps.
@Suite("Browser: EventSource at the stream cap")
struct BrowserStreamLimitTests {
    static let page = """
        <!doctype html>
        <html><body><script>
        function report(type, data) {
          fetch('/v1/runs/browser-report/events', {
            method: 'POST', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({type: type, data: data})
          });
        }
        const source = new EventSource('/v1/runs/watched/events');
        source.onerror = () => report('browser.error', {ready_state: source.readyState});
        source.addEventListener('step', (e) => report('browser.step', {data: JSON.parse(e.data)}));
        </script></body></html>
        """

    /// The report run's event types, in order.
    static func reported(_ stack: E2EStack) -> [String] {
        E2EJournalLine.read(stack.journalDirectory, "browser-report").map(\.type)
    }

    @Test("an EventSource refused at --max-streams keeps retrying and receives events once a slot frees")
    func eventSourceGetsInOnceASlotFrees() async throws {
        let chromium = try #require(ChildProcess.find("chromium"), "chromium is not installed (deploy/scripts/install-deps.sh --test)")
        let site = try TemporaryDirectory(prefix: "site")
        try Self.page.write(toFile: site.file("browser-test.html"), atomically: true, encoding: .utf8)
        _ = chmod(site.path, 0o755)
        let stack = try E2EStack(
            ["--max-streams", "2", "--idle-timeout", "off"], kinds: [.nginx],
            configEdits: [("server_name localhost;", "server_name localhost;\n        location = /browser-test.html { root \(site.path); }")])
        stack.retain(site)
        let api = stack.client(.nginx)
        try await api.createRun(id: "watched")
        try await api.createRun(id: "browser-report")
        let holders = try await StreamCapacityTests.openStreams(api, "watched", count: 2)

        let profile = try TemporaryDirectory(prefix: "chromium")
        stack.retain(profile)
        let browser = try ChildProcess(
            executable: chromium,
            arguments: [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(profile.file("profile"))", "--remote-debugging-port=0",
                stack.url(.nginx, "/browser-test.html"),
            ],
            stdout: .file(profile.file("chromium.log")), stderr: .file(profile.file("chromium.log")))
        defer {
            browser.signalGroup(SIGKILL)
            _ = browser.wait(timeout: .seconds(30))
        }

        // Refused while both slots are taken: the EventSource reports an error and stays CONNECTING (0);
        // a second error proves it reconnected by itself after the refusal.
        let refusedTwice = waitUntil(timeout: .seconds(120)) { Self.reported(stack).filter { $0 == "browser.error" }.count >= 2 }
        try #require(refusedTwice, "the browser reported \(Self.reported(stack)); chromium: \(String((try? String(contentsOfFile: profile.file("chromium.log"), encoding: .utf8))?.suffix(1500) ?? ""))")
        // (EventSource fires `open` on the refusal too: it is a 200 text/event-stream. What matters is that it
        // never closed and that no event arrived.)
        #expect(!Self.reported(stack).contains("browser.step"))
        let errors = E2EJournalLine.read(stack.journalDirectory, "browser-report").filter { $0.type == "browser.error" }
        #expect(errors.allSatisfy { $0.data.contains(#""ready_state":0"#) }, "EventSource closed for good: \(errors.map(\.data))")
        #expect(stack.log.contains("stream refused: at maxStreams"))

        holders[0].close()
        try await api.append("watched", "step", #"{"n":1}"#)
        let received = waitUntil(timeout: .seconds(120)) { Self.reported(stack).contains("browser.step") }
        #expect(received, "the browser reported \(Self.reported(stack))")
    }
}
