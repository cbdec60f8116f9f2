// UltraEdit through the command line on the tiny-facts GPT-2 fixture: its commits store their
// running statistics, fsck checks them, and revert and rebase re-solve an UltraEdit commit from the
// statistics of its new parent — the same statistics, deltas and answers as committing the kept
// facts afresh there.
import Foundation
import Ledger
import Tensors
import Testing
@testable import MLEditCLI

@Suite("UltraEdit history through the command line", .serialized)
struct UltraEditHistoryTests {
    typealias Sandbox = HistoryTests.Sandbox

    static func commit(_ box: Sandbox, _ file: String, _ message: String) {
        box.run(["commit", file, "-m", message, "--method", "ultraedit", "--no-health"])
    }

    static func statistics(_ box: Sandbox, at revision: String) throws -> [LifelongStatisticsRecord] {
        let repository = try Repository.open(at: box.directory)
        return try repository.lifelongStatistics(of: try repository.resolve(revision))
    }

    static func deltaChecksums(_ box: Sandbox, at revision: String) throws -> [String] {
        let repository = try Repository.open(at: box.directory)
        return try repository.deltas(of: try repository.resolve(revision)).map(\.checksum)
    }

    @Test("an UltraEdit commit lands its facts and stores its statistics; fsck names a damaged statistics blob and commits refuse it")
    func commitAndFsck() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        let prompts = try HistoryTests.prompts(range: 0..<3)
        let before = try prompts.map { try box.answer($0) }
        let outcome = box.run(["commit", "a.jsonl", "-m", "A", "--method", "ultraedit"])
        #expect(outcome.stdout.contains("efficacy 3/3"), "\(outcome.stdout)")
        #expect(try prompts.map { try box.answer($0) } != before, "the UltraEdit commit changed nothing")
        let shown = box.run(["show", "HEAD", "--json"])
        #expect(shown.stdout.contains("\"ultraedit\"") && shown.stdout.contains("\"ultraedit_lr\""))

        let stored = try Self.statistics(box, at: "HEAD")
        #expect(stored.map(\.layer) == [2])
        for record in stored {
            // At least one answer token per fact.
            #expect(record.count >= 3 && record.keyDimension == 512 && record.mean.count == 512 + 128)
            #expect(record.variance.allSatisfy { $0 >= 0 } && record.variance.contains { $0 > 0 })
        }
        box.run(["fsck"])

        let repository = try Repository.open(at: box.directory)
        let head = try repository.resolve("HEAD")
        let blob = try #require(try repository.database.query(
            "SELECT mean FROM ultraedit_statistics WHERE commit_id = ?1 AND layer = 2", [.text(head)]) { try $0.blob(0) }.first)
        var damaged = blob
        damaged[damaged.count / 2] ^= 0x5A
        try VerifiedHistoryTests.tamper(box, "UPDATE ultraedit_statistics SET mean = ?1 WHERE commit_id = ?2 AND layer = 2",
                                        [.blob(damaged), .text(head)])
        let fsck = box.run(["fsck"], expecting: 1)
        #expect(fsck.stdout.contains("UltraEdit statistics of \(head)"), "\(fsck.stdout)")
        let refused = box.run(["commit", "b.jsonl", "-m", "B", "--method", "ultraedit"], expecting: 1)
        let errors = refused.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
        #expect(errors.count == 1 && errors[0].contains("checksum"), "\(refused.stderr)")
    }

    @Test("a changed count no longer verifies: the checksum covers it")
    func countIsChecksummed() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        Self.commit(box, "a.jsonl", "A")
        try VerifiedHistoryTests.tamper(box, "UPDATE ultraedit_statistics SET count = count + 1", [])
        let fsck = box.run(["fsck"], expecting: 1)
        #expect(fsck.stdout.contains("UltraEdit statistics of"), "\(fsck.stdout)")
    }

    @Test("revert of a middle UltraEdit commit and rebase onto a new upstream replay exactly, with the same ids every time")
    func revertAndRebaseReplayExactly() throws {
        let all = try Sandbox(), kept = try Sandbox(), again = try Sandbox(), rebased = try Sandbox()
        defer { for box in [all, kept, again, rebased] { CLIHarness.cleanUp(box.directory) } }

        // A, B, C; then B reverted (twice, in two repositories).
        for box in [all, again] {
            box.run(["init", "--model", HistoryTests.model.path])
            Self.commit(box, "a.jsonl", "A")
            Self.commit(box, "b.jsonl", "B")
            Self.commit(box, "c.jsonl", "C")
        }
        let cAfterB = (statistics: try Self.statistics(all, at: "HEAD"), deltas: try Self.deltaChecksums(all, at: "HEAD"))
        for box in [all, again] { box.run(["revert", "HEAD~1"]) }
        #expect(try all.head() == again.head(), "the same revert gave two ids")

        // A and C committed afresh: what the revert must leave in force.
        kept.run(["init", "--model", HistoryTests.model.path])
        Self.commit(kept, "a.jsonl", "A")
        Self.commit(kept, "c.jsonl", "C")
        let reverted = try Self.statistics(all, at: "HEAD"), fresh = try Self.statistics(kept, at: "HEAD")
        #expect(reverted == fresh, "the revert's statistics are not those of A then C")
        #expect(reverted.map(\.count) != cAfterB.statistics.map(\.count), "B's features are still counted")
        let prompts = try HistoryTests.prompts(range: 0..<3) + HistoryTests.prompts(range: 5..<7)
        #expect(try prompts.map { try all.answer($0) } == prompts.map { try kept.answer($0) },
                "after the revert the model answers otherwise than with A and C alone")
        // The next UltraEdit commit starts from the statistics the revert stored. The weights
        // after a revert are HEAD plus its delta, equal to A + C only to rounding, so the new
        // features agree to rounding too.
        Self.commit(all, "b.jsonl", "B again")
        Self.commit(kept, "b.jsonl", "B again")
        let next = try Self.statistics(all, at: "HEAD"), nextFresh = try Self.statistics(kept, at: "HEAD")
        #expect(next.map(\.count) == nextFresh.map(\.count))
        for (a, b) in zip(next, nextFresh) {
            let scale = b.mean.map(abs).max() ?? 1
            let difference = zip(a.mean, b.mean).map { abs($0 - $1) }.max() ?? 0
            #expect(difference <= 1e-3 * scale, "layer \(a.layer): means differ by \(difference)")
        }

        // C on a side branch from A, rebased onto main after B: the same delta and statistics as C
        // committed after A and B.
        rebased.run(["init", "--model", HistoryTests.model.path])
        Self.commit(rebased, "a.jsonl", "A")
        rebased.run(["checkout", "-b", "side"])
        Self.commit(rebased, "c.jsonl", "C")
        rebased.run(["checkout", "main"])
        Self.commit(rebased, "b.jsonl", "B")
        rebased.run(["checkout", "side"])
        let rebase = rebased.run(["rebase", "main"])
        #expect(rebase.stdout.contains("1 commit replayed"), "\(rebase.stdout)")
        #expect(try Self.deltaChecksums(rebased, at: "HEAD") == cAfterB.deltas, "the replayed C differs from C made after B")
        #expect(try Self.statistics(rebased, at: "HEAD") == cAfterB.statistics)
        rebased.run(["fsck"])
        all.run(["fsck"])
    }

    @Test("confined to C0's null space: the setting is stored, and a revert re-solves with C0 as A then C committed afresh")
    func nullSpaceRevert() throws {
        let all = try Sandbox(), kept = try Sandbox()
        defer { for box in [all, kept] { CLIHarness.cleanUp(box.directory) } }
        for box in [all, kept] {
            try Data(#"{"ultraedit_null_space": true}"#.utf8).write(to: box.directory.appendingPathComponent("confined.json"))
            box.run(["init", "--model", HistoryTests.model.path])
        }
        func commit(_ box: Sandbox, _ file: String, _ message: String) {
            box.run(["commit", file, "-m", message, "--method", "ultraedit", "--hparams", "confined.json", "--no-health"])
        }
        commit(all, "a.jsonl", "A")
        commit(all, "b.jsonl", "B")
        commit(all, "c.jsonl", "C")
        let shown = all.run(["show", "HEAD", "--json"]).stdout
        #expect(shown.contains("\"ultraedit_null_space\":true") || shown.contains("\"ultraedit_null_space\" : true"), "\(shown)")
        all.run(["revert", "HEAD~1"])
        commit(kept, "a.jsonl", "A")
        commit(kept, "c.jsonl", "C")
        #expect(try Self.statistics(all, at: "HEAD") == Self.statistics(kept, at: "HEAD"))
        let prompts = try HistoryTests.prompts(range: 0..<3) + HistoryTests.prompts(range: 5..<7)
        #expect(try prompts.map { try all.answer($0) } == prompts.map { try kept.answer($0) },
                "after the revert the model answers otherwise than with A and C alone")
        all.run(["fsck"])
    }

    @Test("rebase --onto-model replays UltraEdit commits from empty statistics, as they were first made")
    func rebaseOntoModel() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        Self.commit(box, "a.jsonl", "A")
        Self.commit(box, "b.jsonl", "B")
        let prompts = try HistoryTests.prompts(range: 0..<5)
        let answers = try prompts.map { try box.answer($0) }
        let first = try Self.statistics(box, at: "HEAD~1"), second = try Self.statistics(box, at: "HEAD")
        box.run(["rebase", "--onto-model", HistoryTests.model.appendingPathComponent("model.gguf").path])
        #expect(try prompts.map { try box.answer($0) } == answers)
        for (replayed, original) in [(try Self.statistics(box, at: "HEAD~1"), first), (try Self.statistics(box, at: "HEAD"), second)] {
            #expect(replayed.map(\.count) == original.map(\.count))
            // The replay edits on the weights its own solve left (Float32 factors); the original
            // second commit stood on weights rebuilt from the stored (half-precision) deltas.
            for (a, b) in zip(replayed, original) {
                let scale = b.mean.map(abs).max() ?? 1
                #expect((zip(a.mean, b.mean).map { abs($0 - $1) }.max() ?? 0) <= 1e-4 * scale, "layer \(a.layer)")
            }
        }
        box.run(["fsck"])
    }
}
