import Foundation
import RunJournal
import Testing

@testable import RunsAPI

/// `GET /v1/runs`: newest first, status filter, limit, and cursor paging that stays stable while runs are created.
@Suite("Runs: list")
struct ListRunsTests {
    /// Creates `count` runs with generated ids, one virtual millisecond apart (ids sort by creation time).
    func createRuns(_ api: APIHarness, _ count: Int) throws -> [RunID] {
        var ids: [RunID] = []
        for _ in 0..<count {
            ids.append(try api.store.create().id)
            api.clock.advance(by: 1)
        }
        return ids
    }

    func page(_ api: APIHarness, _ query: [(String, String)] = []) throws -> (ids: [String], next: String?, runs: [[String: Any]]) {
        let response = api.request("GET", "/v1/runs", query: query)
        #expect(response.status == 200, "body: \(response.bodyText)")
        #expect(response.header("Content-Type") == "application/json")
        let object = try #require(response.jsonObject)
        #expect(Set(object.keys) == ["runs", "next_cursor"])
        let runs = try #require(object["runs"] as? [[String: Any]])
        return (runs.compactMap { $0["id"] as? String }, object["next_cursor"] as? String, runs)
    }

    @Test("runs are listed newest first, each in the run shape, with a null next_cursor on the last page")
    func newestFirst() throws {
        let api = try APIHarness()
        let ids = try createRuns(api, 5)
        let response = api.request("GET", "/v1/runs")
        #expect(response.bodyText.hasSuffix(#""next_cursor":null}"# + "\n"))
        let (listed, next, runs) = try page(api)
        #expect(listed == ids.reversed().map(\.rawValue))
        #expect(next == nil)
        for run in runs {
            #expect(Set(run.keys) == Set(RunsOperationsTests.runKeys))
        }
    }

    @Test("an empty directory lists no runs")
    func emptyList() throws {
        let api = try APIHarness()
        let (listed, next, _) = try page(api)
        #expect(listed.isEmpty)
        #expect(next == nil)
    }

    @Test("status filters the listing", arguments: RunStatus.allCases)
    func statusFilter(status: RunStatus) throws {
        let api = try APIHarness()
        var expected: [RunStatus: [String]] = [:]
        for wanted in RunStatus.allCases {
            for _ in 0..<2 {
                let id = try api.store.create().id
                api.clock.advance(by: 1)
                switch wanted {
                case .queued: break
                case .running: try api.append(id, "run.started")
                case .completed: try api.append(id, "run.completed")
                case .failed: try api.append(id, "run.failed")
                case .stopped: try api.append(id, "run.stopped")
                }
                expected[wanted, default: []].insert(id.rawValue, at: 0)
            }
        }
        let (listed, _, runs) = try page(api, [("status", status.rawValue)])
        #expect(listed == expected[status])
        #expect(runs.allSatisfy { $0["status"] as? String == status.rawValue })
    }

    @Test("an unknown status is a 400", arguments: ["QUEUED", "done", "", "running,failed"])
    func badStatusIs400(status: String) throws {
        let api = try APIHarness()
        expectError(api.request("GET", "/v1/runs", query: [("status", status)]), 400, "invalid_status")
    }

    @Test("the limit defaults to 100")
    func limitDefaultsTo100() throws {
        let api = try APIHarness()
        let ids = try createRuns(api, 101)
        let (listed, next, _) = try page(api)
        #expect(listed.count == 100)
        #expect(listed.first == ids.last?.rawValue)
        #expect(next == listed.last)
        let (rest, last, _) = try page(api, [("cursor", try #require(next))])
        #expect(rest == [ids[0].rawValue])
        #expect(last == nil)
    }

    @Test("limit 1000 is the maximum and is accepted")
    func limitMaxAccepted() throws {
        let api = try APIHarness()
        let ids = try createRuns(api, 3)
        let (listed, _, _) = try page(api, [("limit", "1000")])
        #expect(listed.count == ids.count)
        let (one, next, _) = try page(api, [("limit", "1")])
        #expect(one == [ids[2].rawValue])
        #expect(next == ids[2].rawValue)
    }

    @Test("an invalid limit is a 400", arguments: ["0", "1001", "-1", "abc", "", "1.5", "99999999999999999999"])
    func badLimitIs400(limit: String) throws {
        let api = try APIHarness()
        expectError(api.request("GET", "/v1/runs", query: [("limit", limit)]), 400, "invalid_limit")
    }

    @Test("an invalid cursor is a 400", arguments: ["../x", "", "a b", ".hidden"])
    func badCursorIs400(cursor: String) throws {
        let api = try APIHarness()
        expectError(api.request("GET", "/v1/runs", query: [("cursor", cursor)]), 400, "invalid_cursor")
    }

    @Test("cursor paging is stable while new runs are created: no run twice, none skipped")
    func pagingStableUnderCreation() throws {
        let api = try APIHarness()
        let original = try createRuns(api, 7)
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            var query = [("limit", "3")]
            if let cursor { query.append(("cursor", cursor)) }
            let (listed, next, _) = try page(api, query)
            seen += listed
            cursor = next
            pages += 1
            _ = try createRuns(api, 2)  // newer runs appear between pages
        } while cursor != nil && pages < 10
        #expect(pages == 3)
        #expect(seen == original.reversed().map(\.rawValue))
    }

    @Test("paging with a status filter pages over the matching runs only")
    func pagingWithStatus() throws {
        let api = try APIHarness()
        var running: [String] = []
        for n in 0..<9 {
            let id = try api.store.create().id
            api.clock.advance(by: 1)
            if n % 2 == 0 {
                try api.append(id, "run.started")
                running.insert(id.rawValue, at: 0)
            }
        }
        let first = try page(api, [("status", "running"), ("limit", "2")])
        #expect(first.ids == Array(running[0..<2]))
        let second = try page(api, [("status", "running"), ("limit", "2"), ("cursor", try #require(first.next))])
        #expect(second.ids == Array(running[2..<4]))
        let third = try page(api, [("status", "running"), ("limit", "2"), ("cursor", try #require(second.next))])
        #expect(third.ids == Array(running[4...]))
        #expect(third.next == nil)
    }

    @Test("files that are not journals are not runs")
    func ignoresOtherFiles() throws {
        let api = try APIHarness()
        let ids = try createRuns(api, 2)
        _ = FileManager.default.createFile(atPath: api.directory.file("notes.txt"), contents: Data("x".utf8))
        _ = FileManager.default.createFile(atPath: api.directory.file(".hidden.jsonl"), contents: Data("x\n".utf8))
        _ = FileManager.default.createFile(atPath: api.directory.file("empty.jsonl"), contents: Data())
        let (listed, _, _) = try page(api)
        #expect(listed == ids.reversed().map(\.rawValue))
    }
}
