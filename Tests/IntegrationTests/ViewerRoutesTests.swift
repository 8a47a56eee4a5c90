import Foundation
import Testing

/// The viewer's files through both shipped web server configs: `/` and `/runs/<id>` are the page, `/assets/`
/// its scripts and styles with the types browsers insist on (an ES module must be text/javascript), and
/// every other path still reaches the responder unchanged (the API, its JSON 404 for unknown routes).
@Suite("Viewer: routes in the nginx and lighttpd configs")
struct ViewerRoutesTests {
    @Test("the page, its assets and the API side by side", arguments: WebServerFixture.Kind.allCases)
    func pageAssetsAndAPI(kind: WebServerFixture.Kind) async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(kind)
        let index = try String(contentsOfFile: TestPaths.deploy("www/index.html"), encoding: .utf8)

        for path in ["/", "/runs/build-42", "/runs/build-42?from=list"] {
            let page = try await api.get(path)
            #expect(page.status == 200, "\(kind) \(path)")
            #expect(page.header("Content-Type")?.hasPrefix("text/html") == true, "\(kind) \(path)")
            #expect(page.text == index, "\(kind) \(path) is not deploy/www/index.html")
        }
        for (asset, type) in [("app.js", "text/javascript"), ("event-stream.js", "text/javascript"), ("style.css", "text/css")] {
            let file = try await api.get("/assets/\(asset)")
            #expect(file.status == 200, "\(kind) /assets/\(asset)")
            #expect(file.header("Content-Type")?.hasPrefix(type) == true, "\(kind) /assets/\(asset): \(String(describing: file.header("Content-Type")))")
            #expect(file.header("X-Content-Type-Options") == "nosniff")
            #expect(file.body == Array(try Data(contentsOf: URL(fileURLWithPath: TestPaths.deploy("www/assets/\(asset)")))))
        }

        let list = try await api.get("/v1/runs?limit=1")
        #expect(list.status == 200)
        #expect(list.header("Content-Type")?.hasPrefix("application/json") == true)
        for path in ["/nope", "/runs/a/b", "/runsx"] {
            let missing = try await api.get(path)
            #expect(missing.status == 404, "\(kind) \(path)")
            #expect(missing.text.contains(#""code":"not_found""#), "\(kind) \(path): \(missing.text)")
        }
    }

    @Test("a failed or stopped run carries the reason of its terminal event in the run JSON")
    func reasonInRunJSON() async throws {
        let stack = try E2EStack.shared()
        let api = stack.client(.nginx)
        let id = try await api.createRun()
        try await api.append(id, "run.failed", #"{"reason":"exit_code","exit_code":3}"#)
        let run = try await api.show(id)
        #expect(run["reason"] as? String == "exit_code")
        let running = try await api.createRun()
        #expect(try await api.show(running)["reason"] == nil, "no reason before the run ends")
    }
}
