// One writer at a time for the long-running commands (commit, revert, rebase): an advisory
// flock on .mledit/write.lock held from reading HEAD to moving it, so that a second process waits
// and then solves on top of the first one's commit instead of failing its compare-and-swap.
// The kernel drops the lock when the process dies, however it dies. Unlike
// Repository.withWriterLock (same file), it says on stderr when it has to wait.
import Foundation
import Ledger

final class WriterLock {
    private let descriptor: Int32

    /// Blocks until the lock is held; says so on stderr when it has to wait.
    init(repository: Repository, console: Console) throws {
        let path = repository.lockURL.path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CommandFailure("\(path): cannot open the writer lock: \(String(cString: strerror(errno)))")
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            console.note("waiting for another mledit process writing to this repository…")
            while flock(descriptor, LOCK_EX) != 0 {
                if errno != EINTR {
                    let reason = String(cString: strerror(errno))
                    close(descriptor)
                    throw CommandFailure("\(path): cannot take the writer lock: \(reason)")
                }
            }
        }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
