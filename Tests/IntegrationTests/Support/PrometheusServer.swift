import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real Prometheus server (Debian's `prometheus`) on a free loopback port, scraping one target every
/// second, with its data in its own temporary directory. `stop()` (or release) ends the process group and
/// removes the directory, so nothing is left behind when a test fails.
final class PrometheusServer: @unchecked Sendable {
    let directory: TemporaryDirectory
    let port: Int
    private let process: ChildProcess

    struct StartError: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts Prometheus scraping `http://127.0.0.1:<targetPort><metricsPath>` as job `runjournal`.
    static func start(scrapingPort targetPort: Int, metricsPath: String = "/metrics") throws -> PrometheusServer {
        var lastError: (any Error)?
        for _ in 0..<5 {  // the free port can be taken between choosing and binding it
            do {
                return try PrometheusServer(targetPort: targetPort, metricsPath: metricsPath, port: LoopbackPort.free())
            } catch {
                lastError = error
            }
        }
        throw lastError ?? StartError(description: "prometheus did not start")
    }

    private init(targetPort: Int, metricsPath: String, port: Int) throws {
        guard let executable = ChildProcess.find("prometheus") else {
            throw StartError(description: "prometheus is not installed (deploy/scripts/install-deps.sh --test)")
        }
        directory = try TemporaryDirectory(prefix: "prom")
        self.port = port
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: runjournal
                metrics_path: \(metricsPath)
                static_configs:
                  - targets: ['127.0.0.1:\(targetPort)']

            """
        let configPath = directory.file("prometheus.yml")
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let data = try directory.makeDirectory("data")
        process = try ChildProcess(
            executable: executable,
            arguments: [
                "--config.file=\(configPath)", "--storage.tsdb.path=\(data)",
                "--web.listen-address=127.0.0.1:\(port)",
            ],
            stdout: .file(directory.file("stdout.log")), stderr: .file(directory.file("stderr.log")))
        let process = self.process
        let ready = waitUntil(timeout: .seconds(60)) {
            guard process.isRunning else { return false }
            return (try? HTTPClient.request("http://127.0.0.1:\(port)/-/ready", timeout: .seconds(5)))?.status == 200
        }
        guard ready, process.isRunning else {
            process.terminate(grace: .seconds(2))
            let log = (try? String(contentsOfFile: directory.file("stderr.log"), encoding: .utf8)) ?? ""
            directory.remove()
            throw StartError(description: "prometheus did not get ready on port \(port): \(log.suffix(2000))")
        }
    }

    /// The server's log, for failure messages.
    var log: String { (try? String(contentsOfFile: directory.file("stderr.log"), encoding: .utf8)) ?? "" }

    /// The first sample of an instant query (`/api/v1/query`), or nil when the result is empty.
    func query(_ expression: String) async throws -> Double? {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "query", value: expression)]
        let encoded = components.percentEncodedQuery ?? ""
        let result = try await HTTPClient.fetch("http://127.0.0.1:\(port)/api/v1/query?\(encoded)", timeout: .seconds(10))
        guard result.status == 200,
            let object = result.json as? [String: Any],
            let data = object["data"] as? [String: Any],
            let vector = data["result"] as? [[String: Any]],
            let value = vector.first?["value"] as? [Any],
            let text = value.last as? String
        else { return nil }
        return Double(text)
    }

    func stop() {
        process.terminate(grace: .seconds(10))
        directory.remove()
    }

    deinit { stop() }
}
