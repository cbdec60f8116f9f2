// The writer lock: read-HEAD-then-commit cycles of two connections run one after the other, so
// both land on a linear history instead of one failing the compare-and-swap.
import Foundation
import Testing
@testable import Ledger

@Suite("Repository writer lock")
struct RepositoryLockTests {
    @Test("two connections committing on the HEAD they read under the lock: every commit lands")
    func concurrentWriters() throws {
        let directory = try TemporaryDirectory()
        _ = try Sample.repository(in: directory)
        let root = directory.url
        let perWriter = 6
        let failures = LockedBox<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { writer in
                do {
                    let repository = try Repository.open(at: root)
                    for i in 0..<perWriter {
                        let lock = try repository.acquireWriterLock(timeout: nil)
                        try withExtendedLifetime(lock) {
                            let parent = try repository.head().commitID
                            usleep(5_000) // the solve: long enough for the other writer to move HEAD without the lock
                            let facts = [Sample.fact(writer * 100 + i)]
                            try repository.writeCommit(Sample.draft(parent: parent, facts: facts, seed: UInt64(writer * 100 + i + 1)))
                        }
                    }
                } catch {
                    failures.withValue { $0.append("writer \(writer): \(error)") }
                }
        }
        #expect(failures.withValue { $0 } == [])
        let repository = try Repository.open(at: directory.url)
        #expect(try repository.lineage(of: "HEAD").count == 2 * perWriter)
        #expect(try repository.facts(inLineageOf: "HEAD").count == 2 * perWriter)
        #expect(try repository.fsck() == [])
    }

    @Test("a second holder waits until the first releases the lock")
    func exclusive() throws {
        let directory = try TemporaryDirectory()
        let lockURL = try Sample.repository(in: directory).lockURL
        let root = directory.url
        let events = LockedBox<[String]>([])
        let held = DispatchSemaphore(value: 0)
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            guard let repository = try? Repository.open(at: root) else {
                events.withValue { $0.append("open failed") }
                if worker == 0 { held.signal() }
                return
            }
            if worker == 0 {
                guard let lock = try? repository.acquireWriterLock(timeout: nil) else { return }
                withExtendedLifetime(lock) {
                    events.withValue { $0.append("first acquired") }
                    held.signal()
                    usleep(100_000)
                    events.withValue { $0.append("first releasing") }
                }
            } else {
                held.wait()
                guard let lock = try? repository.acquireWriterLock(timeout: nil) else { return }
                withExtendedLifetime(lock) { events.withValue { $0.append("second acquired") } }
            }
        }
        #expect(events.withValue { $0 } == ["first acquired", "first releasing", "second acquired"])
        #expect(FileManager.default.fileExists(atPath: lockURL.path))
    }
}
