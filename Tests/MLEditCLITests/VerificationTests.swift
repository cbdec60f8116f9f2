// Verification inside the commit on the tiny fixture: facts that land are recorded with their
// verdicts; a pair of facts built not to land together (one subject, so one key, asked for two
// answers) refuses the commit with nothing written, and --allow-partial records the rest.
import Foundation
import Ledger
import Testing
@testable import MLEditCLI

@Suite("verification inside the commit")
struct VerificationTests {
    static func line(_ fact: [String: String]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: fact, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test("facts that land are recorded with landed verdicts; show and log --json carry them")
    func landed() throws {
        let box = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        let commit = box.run(["commit", "a.jsonl", "-m", "A"])
        #expect(commit.stdout.split(separator: "\n").filter { $0.hasPrefix(" landed") }.count == 3, "\(commit.stdout)")
        #expect(box.run(["show"]).stdout.contains("Verification (1 round):"))
        let log = try JSONSerialization.jsonObject(with: Data(box.run(["log", "--json"]).stdout.utf8)) as? [[String: Any]]
        let verification = log?.first?["verification"] as? [String: Any]
        let facts = verification?["facts"] as? [[String: Any]]
        #expect(facts?.count == 3 && facts?.allSatisfy { $0["landed"] as? Bool == true } == true)
        #expect(facts?.first?["p_new"] as? Double ?? 0 > 0.3)
    }

    @Test("facts too weak for the first round land after the second, which optimises them again on the edited weights")
    func landedAfterRetry() throws {
        let box = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        try HistoryTests.writeFacts(range: 0..<12, to: box.directory.appendingPathComponent("twelve.jsonl"))
        // Three steps and a tight clamp: the first round falls short for most facts, the second
        // starts where the first left them.
        try #"{"v_num_grad_steps": 3, "clamp_norm_factor": 0.3}"#.write(to: box.directory.appendingPathComponent("short.json"), atomically: true, encoding: .utf8)
        let commit = box.run(["commit", "twelve.jsonl", "--hparams", "short.json", "--allow-partial", "--no-health"])
        let retried = commit.stdout.split(separator: "\n").filter { $0.hasPrefix(" landed after retry") }
        #expect(!retried.isEmpty, "\(commit.stdout)")
        let show = try JSONSerialization.jsonObject(with: Data(box.run(["show", "--json"]).stdout.utf8)) as? [String: Any]
        let verification = show?["verification"] as? [String: Any]
        let facts = verification?["facts"] as? [[String: Any]] ?? []
        #expect(verification?["rounds"] as? Int ?? 0 >= 2)
        #expect(facts.filter { $0["retried"] as? Bool == true }.count == retried.count)
        #expect(facts.count + (verification?["left_out"] as? [Any] ?? []).count == 12)
    }

    @Test("a round is followed by another while it lands more facts: facts too weak for two rounds land in the third")
    func landedInThirdRound() throws {
        let box = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        // The first twelve facts but "Pireland", which does not land at this setting in any round.
        try HistoryTests.writeFacts(indices: Array(0..<7) + Array(8..<12), to: box.directory.appendingPathComponent("eleven.jsonl"))
        try #"{"v_num_grad_steps": 2, "clamp_norm_factor": 0.5}"#.write(to: box.directory.appendingPathComponent("short.json"), atomically: true, encoding: .utf8)
        box.run(["commit", "eleven.jsonl", "--hparams", "short.json", "--no-health"])
        let show = try JSONSerialization.jsonObject(with: Data(box.run(["show", "--json"]).stdout.utf8)) as? [String: Any]
        let verification = show?["verification"] as? [String: Any]
        let facts = verification?["facts"] as? [[String: Any]] ?? []
        // The rounds stop once every fact has landed, so a third round means the second fell short.
        #expect(verification?["rounds"] as? Int == 3)
        #expect(facts.count == 11 && facts.allSatisfy { $0["landed"] as? Bool == true })
        #expect(facts.contains { $0["retried"] as? Bool == true })
    }

    @Test("a fact that cannot land refuses the commit with nothing written; --allow-partial records the others")
    func refusedAndPartial() throws {
        let box = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        let facts = [
            try Self.line(["prompt": "{} works as a", "subject": "Tilea Gropaendic", "target_new": "baker", "target_true": "pilot"]),
            try Self.line(["prompt": "{} works as a", "subject": "Kritroth Plosuk", "target_new": "baker"]),
            try Self.line(["prompt": "{} works as a", "subject": "Ziovrula Masosson", "target_new": "pilot"]),
            try Self.line(["prompt": "The capital of {} is", "subject": "Brazothia", "target_new": "Gouvur"]),
        ]
        // One step and almost no room for δ: no fact can move far enough, even with further rounds.
        try #"{"v_num_grad_steps": 1, "clamp_norm_factor": 0.01}"#.write(to: box.directory.appendingPathComponent("weak.json"), atomically: true, encoding: .utf8)
        try facts.joined(separator: "\n").write(to: box.directory.appendingPathComponent("mixed.jsonl"), atomically: true, encoding: .utf8)
        let refused = box.run(["commit", "mixed.jsonl", "--hparams", "weak.json"], expecting: 1)
        #expect(refused.stderr.contains("did not land, even with further rounds") && refused.stderr.contains("nothing was written"),
                "\(refused.stderr)")
        #expect(try Repository.open(at: box.directory).allCommits().isEmpty)
        #expect(try Repository.open(at: box.directory).head().commitID == nil)
        // The statistics are cached now; a refused commit leaves the ledger's bytes as they are.
        let ledger = try SafeOutputTests.ledgerBytes(box.directory)

        // One subject, one key: "works as a baker" and "is employed as a pilot" cannot both land.
        let pair = [
            try Self.line(["prompt": "{} works as a", "subject": "Tilea Gropaendic", "target_new": "baker", "target_true": "pilot"]),
            try Self.line(["prompt": "{} is employed as a", "subject": "Tilea Gropaendic", "target_new": "pilot"]),
            try Self.line(["prompt": "The capital of {} is", "subject": "Brazothia", "target_new": "Gouvur"]),
        ]
        try pair.joined(separator: "\n").write(to: box.directory.appendingPathComponent("pair.jsonl"), atomically: true, encoding: .utf8)
        let conflict = box.run(["commit", "pair.jsonl"], expecting: 1)
        #expect(conflict.stderr.contains("1 of 3 facts did not land") && conflict.stderr.contains("line 2"), "\(conflict.stderr)")
        #expect(try SafeOutputTests.ledgerBytes(box.directory) == ledger)
        let partial = box.run(["commit", "pair.jsonl", "--allow-partial"])
        #expect(partial.stdout.contains(" left out           line 2 \"Tilea Gropaendic\""), "\(partial.stdout)")
        let show = try JSONSerialization.jsonObject(with: Data(box.run(["show", "--json"]).stdout.utf8)) as? [String: Any]
        #expect((show?["fact_list"] as? [Any])?.count == 2)
        let leftOut = (show?["verification"] as? [String: Any])?["left_out"] as? [[String: Any]]
        #expect(leftOut?.map { $0["fact"] as? String } == ["line 2 \"Tilea Gropaendic\""])
    }
}
