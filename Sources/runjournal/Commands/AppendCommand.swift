import ArgumentParser
import RunJournal

#if canImport(Glibc)
import Glibc
#endif

/// `runjournal append RUN TYPE [JSON]` or `runjournal append RUN -` (NDJSON on stdin, one batch).
struct AppendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append an event, or NDJSON events from stdin as one batch.",
        discussion: """
            runjournal append RUN TYPE [JSON]   appends one event (data defaults to {})
            runjournal append RUN -             reads {"type":..,"data":..} lines from stdin, appends them as one batch
            runjournal append RUN - --each      appends each stdin line as soon as it is read (pipe a live producer)
            Prints the assigned seqs (first-last).
            """
    )

    @OptionGroup var journal: JournalOptions
    @OptionGroup var fsync: FsyncOption
    @Argument(help: ArgumentHelp("The run id.", valueName: "run")) var runName: String
    @Argument(help: "The event type, or - to read NDJSON from stdin.") var type: String
    @Argument(help: "The event data (JSON, default {}).") var data: String?
    @Flag(help: "With -, append each line as its own batch as soon as it is read.") var each = false

    func run() throws {
        let id = try JournalOptions.runID(runName)
        let store = try journal.openStore(fsync: try fsync.policy())
        if type == "-" {
            guard data == nil else { throw CLIFailure.usage("with -, events come from stdin; no JSON argument") }
            if each {
                try appendEachLine(store: store, id: id)
            } else {
                let events = try EventInput.events(fromNDJSON: try readStandardInput())
                let seqs = try store.append(id, events)
                print("\(seqs.lowerBound)-\(seqs.upperBound)")
            }
            return
        }
        guard !each else { throw CLIFailure.usage("--each goes with - (stdin)") }
        let eventType: EventType
        do { eventType = try EventType(type) } catch { throw CLIFailure.usage("\(error)") }
        let event = try NewEvent(type: eventType, json: Array((data ?? "{}").utf8))
        let seqs = try store.append(id, [event])
        print("\(seqs.lowerBound)")
    }

    private func appendEachLine(store: JournalStore, id: RunID) throws {
        var lineNumber = 0
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            do {
                let seqs = try store.append(id, [try EventInput.event(fromJSON: Array(line.utf8))])
                print("\(seqs.lowerBound)")
            } catch let error as JournalError {
                throw CLIFailure("line \(lineNumber): \(error)")
            }
        }
    }
}

/// All of stdin (bounded only by memory: a batch is one write, so it must fit anyway).
func readStandardInput() throws -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress!, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw CLIFailure("cannot read stdin: \(String(cString: strerror(errno)))")
        }
        if count == 0 { return bytes }
        bytes.append(contentsOf: chunk[..<count])
    }
}
