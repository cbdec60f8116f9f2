// End-to-end history on a real (small) model: commit, revert, revert of a revert, rebase onto a
// commit and onto another checkpoint, determinism of commit ids, and malformed facts. The model is
// the tiny-facts GPT-2 fixture (4 layers, knows 300 invented facts), so every edit really runs.
import Foundation
import Ledger
import Tensors
import Testing
@testable import MLEditCLI

@Suite("History through the command line", .serialized)
struct HistoryTests {
    static let model = CLIHarness.fixtures.appendingPathComponent("tiny-facts-gpt2")

    /// A repository in a fresh directory with two facts files of invented facts the model knows.
    struct Sandbox {
        let directory: URL
        let environment: [String: String]

        init() throws {
            directory = try CLIHarness.temporaryDirectory()
            environment = ["MLEDIT_CACHE": directory.appendingPathComponent("cache").path,
                           "MLEDIT_CORPUS": try HistoryTests.corpus().path, "MLEDIT_AUTHOR": "tests"]
            try HistoryTests.writeFacts(range: 0..<3, to: directory.appendingPathComponent("a.jsonl"))
            try HistoryTests.writeFacts(range: 3..<5, to: directory.appendingPathComponent("b.jsonl"))
            try HistoryTests.writeFacts(range: 5..<7, to: directory.appendingPathComponent("c.jsonl"))
        }

        @discardableResult
        func run(_ arguments: [String], expecting status: Int32 = 0,
                 sourceLocation: SourceLocation = #_sourceLocation) -> CommandOutcome {
            let outcome = CLIHarness.run(arguments, in: directory, environment: environment)
            #expect(outcome.status == status, "mledit \(arguments.joined(separator: " ")): \(outcome.stderr)",
                    sourceLocation: sourceLocation)
            return outcome
        }

        /// The greedy continuation (3 tokens) of `prompt` at `revision`.
        func answer(_ prompt: String, at revision: String = "HEAD") throws -> [Int] {
            let outcome = run(["generate", prompt, "--max-tokens", "3", "--json", "--at", revision])
            let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            return try #require(object?["ids"] as? [Int])
        }

        func head() throws -> String {
            let outcome = run(["status", "--json"])
            let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            return try #require(object?["head"] as? String)
        }
    }

    static func corpus() throws -> URL {
        let cache = ProcessInfo.processInfo.environment["MLEDIT_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".cache/mledit")
        let url = cache.appendingPathComponent("enwiki-sample.txt")
        try #require(FileManager.default.fileExists(atPath: url.path), "run scripts/fetch-corpus first (make test does)")
        return url
    }

    static func facts() throws -> [[String: Any]] {
        let data = try Data(contentsOf: model.appendingPathComponent("facts.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    static func prompts(range: Range<Int>) throws -> [String] {
        try facts()[range].map { record in
            let rewrite = record["requested_rewrite"] as? [String: Any] ?? [:]
            let template = rewrite["prompt"] as? String ?? ""
            return template.replacingOccurrences(of: "{}", with: rewrite["subject"] as? String ?? "")
        }
    }

    static func writeFacts(range: Range<Int>, to url: URL) throws {
        try writeFacts(indices: Array(range), to: url)
    }

    static func writeFacts(indices: [Int], to url: URL) throws {
        var lines: [String] = []
        let all = try facts()
        for record in indices.map({ all[$0] }) {
            let rewrite = try #require(record["requested_rewrite"] as? [String: Any])
            let line: [String: Any] = [
                "prompt": rewrite["prompt"] as Any, "subject": rewrite["subject"] as Any,
                "target_new": (rewrite["target_new"] as? [String: Any])?["str"] as Any,
                "target_true": (rewrite["target_true"] as? [String: Any])?["str"] as Any,
            ]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
        }
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    }

    @Test("revert takes a commit out and keeps later commits; reverting the revert restores it")
    func revert() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", Self.model.path])
        let promptsA = try Self.prompts(range: 0..<3), promptsB = try Self.prompts(range: 3..<5)
        let before = try promptsA.map { try box.answer($0) }
        box.run(["commit", "a.jsonl", "-m", "A", "--method", "emmet"])
        let afterA = try promptsA.map { try box.answer($0) }
        #expect(afterA != before, "commit A changed nothing")
        box.run(["commit", "b.jsonl", "-m", "B", "--method", "emmet"])
        let bBeforeRevert = try promptsB.map { try box.answer($0) }

        let revert = box.run(["revert", "HEAD~1"])
        #expect(revert.stdout.contains("Revert \"A\""))
        #expect(try promptsA.map { try box.answer($0) } == before, "the reverted facts did not come back")
        #expect(try promptsB.map { try box.answer($0) } == bBeforeRevert, "the later commit's facts moved")

        box.run(["revert", "HEAD"])
        #expect(try promptsA.map { try box.answer($0) } == afterA, "reverting the revert did not restore A")
        #expect(try promptsB.map { try box.answer($0) } == bBeforeRevert)
        let again = box.run(["revert", "HEAD~1"], expecting: 1)  // the first revert, already reverted
        #expect(again.stderr.contains("already reverted"))
        box.run(["fsck"])
    }

    @Test("ENCORE commits, shows its penalty, and reverts like MEMIT: the reverted facts come back, the later ones stay")
    func encoreRevert() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", Self.model.path])
        let promptsA = try Self.prompts(range: 0..<3), promptsB = try Self.prompts(range: 3..<5)
        let before = try promptsA.map { try box.answer($0) }
        box.run(["commit", "a.jsonl", "-m", "A", "--method", "encore", "--allow-partial"])
        #expect(try promptsA.map { try box.answer($0) } != before, "the ENCORE commit changed nothing")
        let shown = box.run(["show", "HEAD", "--json"])
        #expect(shown.stdout.contains("\"encore\"") && shown.stdout.contains("\"update_norm_lambda\""))
        box.run(["commit", "b.jsonl", "-m", "B", "--method", "encore", "--allow-partial"])
        let bBeforeRevert = try promptsB.map { try box.answer($0) }
        box.run(["revert", "HEAD~1"])
        #expect(try promptsA.map { try box.answer($0) } == before, "the reverted facts did not come back")
        #expect(try promptsB.map { try box.answer($0) } == bBeforeRevert, "the later commit's facts moved")
        box.run(["fsck"])
    }

    @Test("commit --nas measures the reference norm on the base once and later commits of the lineage reuse it")
    func nasReferenceNorm() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", Self.model.path])
        let promptsA = try Self.prompts(range: 0..<3)
        let before = try promptsA.map { try box.answer($0) }
        let first = box.run(["commit", "a.jsonl", "-m", "A", "--nas", "--allow-partial", "--no-health"])
        #expect(first.stderr.contains("NAS reference norm") && first.stderr.contains("measured on the base model over 3 facts"))
        #expect(try promptsA.map { try box.answer($0) } != before, "the NAS commit changed nothing")
        let firstID = box.run(["log", "--format", "%H", "-n", "1"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        box.run(["commit", "b.jsonl", "-m", "B", "--allow-partial", "--no-health"])
        let third = box.run(["commit", "c.jsonl", "-m", "C", "--nas", "--allow-partial", "--no-health"])
        #expect(third.stderr.contains("(commit \(firstID.prefix(10)))"), "the third commit did not take the lineage's reference")
        let norms = try ["HEAD~2", "HEAD"].map { revision in
            let shown = box.run(["show", revision, "--json"]).stdout
            let match = try #require(shown.firstMatch(of: /"nas_target_norm"\s*:\s*([0-9.eE+-]+)/))
            return try #require(Double(match.1))
        }
        #expect(norms[0] > 0 && norms[0] == norms[1])
        #expect(!box.run(["show", "HEAD~1", "--json"]).stdout.contains("nas_target_norm"))
        let revert = box.run(["revert", "HEAD~2"])
        #expect(revert.stdout.contains(" verified: ") && revert.stdout.contains("as before the commit"), "\(revert.stdout)")
        #expect(try promptsA.map { try box.answer($0) } == before, "the reverted NAS facts did not come back")
        box.run(["fsck"])
    }

    @Test("commit --batch-size commits a file in batches; rerun after an interruption it continues")
    func batchedCommit() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", Self.model.path])
        try Self.writeFacts(range: 0..<5, to: box.directory.appendingPathComponent("all.jsonl"))
        let first = box.run(["commit", "all.jsonl", "--batch-size", "2", "--no-health", "-m", "bulk"])
        #expect(first.stdout.split(separator: "\n").filter { $0.hasPrefix("batch ") }.count == 3)
        #expect(first.stdout.contains("batch 3/3: [main "))
        let log = box.run(["log", "--oneline"])
        #expect(log.stdout.contains("bulk [batch 1/3]") && log.stdout.contains("bulk [batch 3/3]"))
        // An interrupted run leaves the branch after some batch; the rerun passes over it.
        box.run(["checkout", "-b", "short", "HEAD~2"])
        let resumed = box.run(["commit", "all.jsonl", "--batch-size", "2", "--no-health", "-m", "bulk", "--json"])
        let batches = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [[String: Any]])
        #expect(batches.map { $0["committed"] as? Bool } == [false, true, true])
        let status = try #require(try JSONSerialization.jsonObject(with: Data(box.run(["status", "--json"]).stdout.utf8)) as? [String: Any])
        #expect(status["facts_in_force"] as? Int == 5)
        let wrong = box.run(["commit", "all.jsonl", "--eval-every", "2"], expecting: 64)
        #expect(wrong.stderr.contains("--eval-every needs --batch-size"))
    }

    @Test("rebase onto a commit re-solves the branch; the old head stays in the reflog")
    func rebaseOntoCommit() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", Self.model.path])
        box.run(["commit", "a.jsonl", "-m", "A"])
        box.run(["checkout", "-b", "side"])
        box.run(["commit", "b.jsonl", "-m", "B"])
        let promptsB = try Self.prompts(range: 3..<5)
        let bOnA = try promptsB.map { try box.answer($0) }
        let oldHead = try box.head()
        box.run(["checkout", "main"])
        box.run(["commit", "c.jsonl", "-m", "C"])
        box.run(["checkout", "side"])
        let rebase = box.run(["rebase", "main"])
        #expect(rebase.stdout.contains("1 commit replayed"))
        let newHead = try box.head()
        #expect(newHead != oldHead)
        let show = box.run(["show", "HEAD", "--json"])
        #expect(show.stdout.contains(oldHead), "the replayed commit does not name its source")
        #expect(try promptsB.map { try box.answer($0) } == bOnA, "B's facts changed in the replay")
        let promptsC = try Self.prompts(range: 5..<7)
        #expect(try promptsC.map { try box.answer($0) } == (try promptsC.map { try box.answer($0, at: "main") }))
        // The replay recomputed B's keys on the new weights: the keys of layer 0 (its input does
        // not depend on any edited weight) are unchanged, those of layer 1 moved with C's edit of
        // layer 0; the targets z travel unchanged.
        let repository = try Repository.open(at: box.directory)
        let source = try repository.editVectors(of: oldHead), replayed = try repository.editVectors(of: newHead)
        #expect(source.map(\.layer) == [0, 1] && replayed.map(\.layer) == [0, 1])
        let scale = source.map { $0.keys.values.map(abs).max() ?? 0 }
        #expect(replayed[0].keys.maxAbsDifference(source[0].keys) <= 1e-4 * max(1, scale[0]))
        #expect(replayed[1].keys.maxAbsDifference(source[1].keys) > 1e-3 * scale[1],
                "layer 1 keys did not move: \(replayed[1].keys.maxAbsDifference(source[1].keys))")
        let targets = try #require(try repository.editTargets(of: oldHead))
        #expect(try repository.editTargets(of: newHead) == targets)
        #expect(targets.layer == 1 && targets.values.cols == 2)
        // The old head is still reachable.
        box.run(["checkout", oldHead])
        box.run(["fsck"])
    }

    @Test("rebase --onto-model replays the lineage on another copy of the checkpoint")
    func rebaseOntoModel() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", Self.model.path])
        box.run(["commit", "a.jsonl", "-m", "A"])
        let promptsA = try Self.prompts(range: 0..<3)
        let answers = try promptsA.map { try box.answer($0) }
        box.run(["rebase", "--onto-model", Self.model.appendingPathComponent("model.gguf").path])
        let status = box.run(["status"])
        #expect(status.stdout.contains("model.gguf"))
        #expect(try promptsA.map { try box.answer($0) } == answers)
    }

    @Test("the same facts on the same base give the same commit id")
    func determinism() throws {
        let first = try Sandbox(), second = try Sandbox()
        defer { CLIHarness.cleanUp(first.directory); CLIHarness.cleanUp(second.directory) }
        for box in [first, second] {
            box.run(["init", "--model", Self.model.path])
            box.run(["commit", "a.jsonl", "-m", "same facts"])
        }
        #expect(try first.head() == second.head())
    }

    @Test("malformed facts: one-line error naming file, line and field; nothing written")
    func malformedFacts() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", Self.model.path])
        let cases: [(String, String)] = [
            ("{\"prompt\": \"{} is\", \"subject\": \"X\"}\n", "target_new"),
            ("not json\n", "bad.jsonl:1"),
            ("{\"prompt\": \"{} is\", \"subject\": \"Y\", \"target_new\": \"\"}\n", "target_new"),
            ("{\"prompt\": \"The capital is\", \"subject\": \"Z\", \"target_new\": \"A\"}\n", "subject"),
        ]
        for (text, field) in cases {
            let file = box.directory.appendingPathComponent("bad.jsonl")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let outcome = box.run(["commit", "bad.jsonl"], expecting: 1)
            #expect(outcome.stderr.hasPrefix("Error: "))
            #expect(outcome.stderr.contains("bad.jsonl"))
            #expect(outcome.stderr.contains(field), "\(outcome.stderr)")
            #expect(outcome.stderr.split(separator: "\n").count == 1)
        }
        let log = box.run(["log", "--json"])
        #expect(!log.stdout.contains("\"id\""), "a failed commit left something behind")
    }

    @Test("two processes committing at once: both land, one after the other")
    func concurrentCommits() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", Self.model.path])
        box.run(["commit", "a.jsonl", "-m", "warm the statistics cache"])
        let outcomes = OutcomeList()
        let group = DispatchGroup()
        for file in ["b.jsonl", "c.jsonl"] {
            group.enter()
            DispatchQueue.global().async {
                let outcome = try? CLIHarness.runBinary(["commit", file, "-m", file], in: box.directory, environment: box.environment)
                outcomes.append(outcome)
                group.leave()
            }
        }
        group.wait()
        let results = outcomes.values
        #expect(results.count == 2)
        for outcome in results {
            let outcome = try #require(outcome)
            #expect(outcome.status == 0, "\(outcome.stderr)")
        }
        let log = box.run(["log", "--oneline"])
        #expect(log.stdout.contains("b.jsonl") && log.stdout.contains("c.jsonl"), "\(log.stdout)")
        #expect(log.stdout.split(separator: "\n").count == 3)
        box.run(["fsck"])
    }
}

final class OutcomeList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [CommandOutcome?] = []
    func append(_ item: CommandOutcome?) { lock.lock(); items.append(item); lock.unlock() }
    var values: [CommandOutcome?] { lock.lock(); defer { lock.unlock() }; return items }
}
