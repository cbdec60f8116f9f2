// The repository's writer lock: an advisory `flock` on `.mledit/write.lock`, for read-compute-write
// cycles longer than one transaction (read HEAD, solve an edit for seconds, write the commit on
// top of the HEAD that was read). Holding it, a writer's HEAD cannot move under it, so two
// writers run one after the other instead of one failing the compare-and-swap. The kernel drops
// the lock when the holder dies, so a killed process never leaves it behind. Transactions alone
// do not need it: SQLite's own locking already serializes them.
import Foundation

import Glibc

extension Repository {
    /// `.mledit/write.lock` (the file `mledit commit`, `revert` and `rebase` lock too).
    public var lockURL: URL { ledgerURL.deletingLastPathComponent().appendingPathComponent("write.lock") }

    /// Runs `body` holding the repository's exclusive writer lock, waiting for other holders
    /// (other processes, or other `Repository` instances in this one) to finish.
    /// - Throws: `LedgerError.io` when the lock file cannot be opened or locked; what `body` throws.
    public func withWriterLock<T>(_ body: () throws -> T) throws -> T {
        let descriptor = Glibc.open(lockURL.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw LedgerError.io(path: lockURL.path, reason: "cannot open the lock file: \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            throw LedgerError.io(path: lockURL.path, reason: "cannot lock: \(String(cString: strerror(errno)))")
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }
}
