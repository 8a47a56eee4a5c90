extension JournalStore {
    /// Runs whose journal failed in this process or was found failed when opened. A candidate list: confirm each
    /// with `failure(of:)`, which tells whether the failure still concerns the journal (a repair makes a new file).
    public var failedRunIDs: [RunID] { failures.runIDs }
}
