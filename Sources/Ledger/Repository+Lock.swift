// The repository's writer lock: an advisory `flock` on `.mledit/write.lock`, for read-compute-write
// cycles longer than one transaction (read HEAD, solve an edit for seconds, write the commit on
// top of the HEAD that was read). Holding it, a writer's HEAD cannot move under it, so two
// writers run one after the other instead of one failing the compare-and-swap. The kernel drops
// the lock when the holder dies, so a killed process never leaves it behind (a dead holder's pid
// left in the file is simply overwritten). A waiting writer gives up after a timeout, naming the
// holder's pid, so that a stopped process cannot block everyone forever. Transactions alone do
// not need it: SQLite's own locking already serializes them.
import Foundation

import Glibc

/// A held writer lock; released when this is deinitialized (or the process ends).
public final class WriterLock: @unchecked Sendable {
    private let descriptor: Int32

    fileprivate init(descriptor: Int32) { self.descriptor = descriptor }

    deinit {
        flock(descriptor, LOCK_UN)
        Glibc.close(descriptor)
    }
}

extension Repository {
    /// `.mledit/write.lock` (the file `mledit commit`, `revert` and `rebase` lock too).
    public var lockURL: URL { ledgerURL.deletingLastPathComponent().appendingPathComponent("write.lock") }

    /// Takes the repository's exclusive writer lock and records this process's pid in the lock
    /// file. When another process holds it, `waiting` is called once with the holder's pid (nil
    /// when it did not record one), then the lock is polled until `timeout` seconds have passed
    /// (nil: no limit; 0: fail at once).
    /// - Throws: `LedgerError.lockTimeout` naming the holder; `.io` when the file cannot be used.
    public func acquireWriterLock(timeout: TimeInterval?, waiting: (Int32?) -> Void = { _ in }) throws -> WriterLock {
        let path = lockURL.path
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw LedgerError.io(path: path, reason: "cannot open the lock file: \(String(cString: strerror(errno)))")
        }
        if !tryLock(descriptor, path: path) {
            let holder = Self.recordedHolder(descriptor)
            waiting(holder)
            let deadline = timeout.map { Date().addingTimeInterval($0) }
            var interval: useconds_t = 2_000
            while !tryLock(descriptor, path: path) {
                if let deadline, Date() >= deadline {
                    Glibc.close(descriptor)
                    throw LedgerError.lockTimeout(path: path, holder: Self.recordedHolder(descriptor) ?? holder,
                                                  seconds: timeout ?? 0)
                }
                usleep(interval)
                interval = min(interval * 2, 100_000)
            }
        }
        let record = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        return WriterLock(descriptor: descriptor)
    }

    private func tryLock(_ descriptor: Int32, path: String) -> Bool {
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            return false
        }
        return true
    }

    /// The pid the current holder wrote into the lock file, if any.
    private static func recordedHolder(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
