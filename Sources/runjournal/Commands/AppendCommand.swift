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
    @Option(help: ArgumentHelp(
        "Make a retry safe: the same key with the same input prints the original seqs and appends nothing.",
        valueName: "key")) var idempotencyKey: String?

    func run() throws {
        let id = try JournalOptions.runID(runName)
        let store = try journal.openStore(fsync: try fsync.policy())
        if type == "-" {
            guard data == nil else { throw CLIFailure.usage("with -, events come from stdin; no JSON argument") }
            if each {
                guard idempotencyKey == nil else { throw CLIFailure.usage("--idempotency-key names one batch; it does not go with --each") }
                try appendEachLine(store: store, id: id)
            } else {
                let input = try readStandardInput()
                let events = try EventInput.events(fromNDJSON: input)
                let seqs = try store.append(id, events, conditions: try conditions(fingerprinting: input)).seqs
                print("\(seqs.lowerBound)-\(seqs.upperBound)")
            }
            return
        }
        guard !each else { throw CLIFailure.usage("--each goes with - (stdin)") }
        let eventType: EventType
        do { eventType = try EventType(type) } catch { throw CLIFailure.usage("\(error)") }
        let json = Array((data ?? "{}").utf8)
        let event = try NewEvent(type: eventType, json: json)
        let seqs = try store.append(id, [event], conditions: try conditions(fingerprinting: Array(type.utf8) + [0x0A] + json)).seqs
        print("\(seqs.lowerBound)")
    }

    /// The append's conditions: the idempotency record of `--idempotency-key` over what was given.
    private func conditions(fingerprinting input: [UInt8]) throws -> AppendConditions {
        guard let idempotencyKey else { return AppendConditions() }
        do {
            return AppendConditions(idempotency: try IdempotencyRecord(key: idempotencyKey, body: input))
        } catch {
            throw CLIFailure.usage("\(error)")
        }
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
