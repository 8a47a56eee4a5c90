import SystemSupport

extension JournalError {
    /// A failed system call as the store reports it.
    init(_ error: SystemError) {
        self = .io(operation: error.operation, path: error.path, errno: error.errno)
    }
}

/// Runs a `Sys` call and reports its failure as `JournalError.io`, the only I/O error the store's callers see.
@discardableResult
func asJournalError<T>(_ call: () throws -> T) throws -> T {
    do {
        return try call()
    } catch let error as SystemError {
        throw JournalError(error)
    }
}
