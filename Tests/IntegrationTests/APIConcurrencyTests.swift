import Foundation
import Testing

/// Concurrency end to end: bursts larger than any pool are all answered (none left in a backlog until a
/// gateway timeout), and concurrent appenders to one run get contiguous, correctly acknowledged seqs.
@Suite("API: bursts and concurrent appenders")
struct APIConcurrencyTests {
    typealias Kind = WebServerFixture.Kind

    @Test("a burst of 400 concurrent GETs and POSTs is answered in full", arguments: Kind.allCases)
    func answersABurstOf400Requests(kind: Kind) async throws {
        let stack = try E2EStack(["--idle-timeout", "off"], kinds: [kind])
        let api = stack.client(kind)
        var runs: [String] = []
        for index in 0..<20 { runs.append(try await api.createRun(id: "burst-\(index)")) }
        let json = [("Content-Type", "application/json")]
        var requests: [(method: String, target: String, headers: [(String, String)], body: [UInt8]?)] = []
        for index in 0..<400 {
            let run = runs[index % runs.count]
            switch index % 4 {
            case 0: requests.append(("GET", "/v1/runs/\(run)", [], nil))
            case 1: requests.append(("POST", "/v1/runs/\(run)/events", json, Array(#"{"type":"burst","data":{"i":\#(index)}}"#.utf8)))
            case 2: requests.append(("POST", "/v1/runs", json, Array(#"{"metadata":{"i":\#(index)}}"#.utf8)))
            default: requests.append(("GET", "/v1/runs?limit=5", [], nil))
            }
        }
        let responses = try await api.concurrently(requests, timeout: .seconds(120))
        let unanswered = responses.indices.filter { !responses[$0].ended || responses[$0].status == nil }
        #expect(unanswered.isEmpty, "\(unanswered.count) of 400 requests got no complete response")
        let statuses = Dictionary(grouping: responses.indices, by: { responses[$0].status ?? 0 }).mapValues(\.count)
        for (index, response) in responses.enumerated() {
            let expected = requests[index].method == "GET" ? 200 : 201
            if response.status != expected {
                Issue.record("request \(index) \(requests[index].method) \(requests[index].target): \(response.status.map(String.init) ?? "none") \(response.text.prefix(200)); all statuses: \(statuses)")
                break
            }
        }
        // Every acknowledged append is in its journal.
        let appended = responses.indices.filter { $0 % 4 == 1 && responses[$0].status == 201 }.count
        let stored = runs.map { E2EJournalLine.read(stack.journalDirectory, $0).filter { $0.type == "burst" }.count }.reduce(0, +)
        #expect(stored == appended)
        #expect(stack.responder.isRunning)
    }

    @Test("100 concurrent appenders to one run get seqs 2...101, each stored with its own data; verify is clean",
          arguments: Kind.allCases)
    func concurrentAppendersGetContiguousSeqs(kind: Kind) async throws {
        let stack = try E2EStack(["--idle-timeout", "off"], kinds: [kind])
        let api = stack.client(kind)
        let run = try await api.createRun(id: "appenders")
        let requests = (0..<100).map { writer in
            (method: "POST", target: "/v1/runs/\(run)/events", headers: [("Content-Type", "application/json")],
             body: Optional(Array(#"{"type":"step","data":{"writer":\#(writer)}}"#.utf8)))
        }
        let responses = try await api.concurrently(requests, timeout: .seconds(120))
        var seqByWriter: [Int: Int64] = [:]
        for (writer, response) in responses.enumerated() {
            guard response.status == 201, let body = response.json as? [String: Any],
                let first = body["first_seq"] as? Int, let last = body["last_seq"] as? Int
            else {
                Issue.record("writer \(writer): \(response.status.map(String.init) ?? "no status") \(response.text)")
                continue
            }
            #expect(first == last)
            seqByWriter[writer] = Int64(first)
        }
        #expect(Set(seqByWriter.values) == Set(2...101))

        let lines = E2EJournalLine.read(stack.journalDirectory, run)
        #expect(lines.map(\.seq) == Array(1...101))
        let lineBySeq = Dictionary(uniqueKeysWithValues: lines.map { ($0.seq, $0) })
        for (writer, seq) in seqByWriter {
            #expect(lineBySeq[seq]?.data == #"{"writer":\#(writer)}"#, "seq \(seq) acknowledged to writer \(writer) holds \(lineBySeq[seq]?.line ?? "nothing")")
        }
        let verify = try await e2eRunCLI(["verify", "--journal", stack.journalDirectory, run])
        #expect(verify.code == 0, "\(verify.stdout)\(verify.stderr)")
    }
}
