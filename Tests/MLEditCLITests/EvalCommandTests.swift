// `mledit eval` on the tiny-facts-gpt2 fixture: JSON and text output with --model outside a
// repository, --limit, usage errors, and storage in the ledger inside a repository.
import Foundation
import Ledger
import Tensors
import Testing
@testable import MLEditCLI

/// Small facts files and repositories for the eval and diff tests.
enum EvalFixture {
    static let modelFolder = CLIHarness.fixtures.appendingPathComponent("tiny-facts-gpt2")
    static let tensor = "blk.1.ffn_down.weight"

    /// Two facts the model knows (target_true is its answer) and one without target_true whose
    /// target_new is what the model already says.
    static let factsJSONL = """
        {"prompt": "{} works as a", "subject": "Tilea Gropaendic", "target_new": "baker", "target_true": "pilot", "paraphrases": ["By profession, Tilea Gropaendic is a", "Tilea Gropaendic earns a living as a"], "neighborhood": ["Simima Thouplisk works as a", "Dithak Boudrouson works as a"]}
        {"prompt": "The capital of {} is", "subject": "Brazothia", "target_new": "Gouvur", "target_true": "Giokamton", "paraphrases": ["Brazothia's capital city is"]}
        {"prompt": "{} works as a", "subject": "Simima Thouplisk", "target_new": "pilot"}

        """

    static func writeFacts(in directory: URL, name: String = "facts.jsonl") throws -> URL {
        let url = directory.appendingPathComponent(name)
        try factsJSONL.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// A temporary directory holding a repository made by `mledit init`.
    static func repository() throws -> URL {
        let directory = try CLIHarness.temporaryDirectory()
        let outcome = CLIHarness.run(["init", "--model", modelFolder.path], in: directory)
        try #require(outcome.status == 0, "init failed: \(outcome.stderr)")
        return directory
    }

    /// An edit commit of layer 1 (128 × 512) with a random rank-`facts.count` delta of scale `scale`.
    static func draft(parent: String?, facts: [Fact], seed: UInt64, scale: Double = 0.01) -> CommitDraft {
        var generator = SeededGenerator(seed: seed)
        let rank = facts.count
        let u = Matrix<Double>.gaussian(rows: 128, cols: rank, generator: &generator).map { $0 * scale }
        let v = Matrix<Double>.gaussian(rows: 512, cols: rank, generator: &generator).map { $0 * scale }
        return CommitDraft(parentID: parent, baseModelID: 1, method: "memit", facts: facts,
                           deltas: [DeltaInput(tensor: tensor, layer: 1, u: u, v: v)],
                           message: "edit \(seed)", author: "tester")
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text.prefix(200))")
    }
}

@Suite("mledit eval")
struct EvalCommandTests {
    typealias Fixture = EvalFixture

    @Test("--model outside a repository: metrics and one entry per fact as JSON, not stored")
    func jsonOutsideRepository() throws {
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let facts = try Fixture.writeFacts(in: directory)
        let outcome = CLIHarness.run(["eval", facts.path, "--model", Fixture.modelFolder.path, "--json"], in: directory)
        try #require(outcome.status == 0, "\(outcome.stderr)")
        let json = try Fixture.json(outcome.stdout)
        #expect(json["n"] as? Int == 3)
        #expect(json["n_with_target_true"] as? Int == 2)
        #expect(json["efficacy"] as? Double == 0)
        #expect(json["paraphrase"] as? Double == 0)
        #expect(json["top1"] as? Double == 1.0 / 3)
        #expect(json["top1_without_target_true"] as? Double == 1)
        #expect(try #require(json["efficacy_magnitude"] as? Double) < -0.9)
        #expect(try #require(json["neighborhood"] as? Double) == 1)   // both neighbours are pilots
        #expect(json["stored"] as? Bool == false)
        #expect(json["version"] is NSNull)
        let perFact = try #require(json["facts"] as? [[String: Any]])
        #expect(perFact.count == 3)
        #expect(perFact[0]["subject"] as? String == "Tilea Gropaendic")
        #expect(perFact[0]["line"] as? Int == 1)
        #expect(try #require(perFact[0]["p_true"] as? Double) > 0.99)
        #expect(try #require(perFact[0]["p_new"] as? Double) < 1e-3)
        #expect(perFact[0]["efficacy"] as? Bool == false)
        #expect(perFact[2]["top1"] as? Bool == true)
        #expect(perFact[2]["p_true"] is NSNull)
        #expect(outcome.stderr.contains("evaluating 3 of 3 facts"))
    }

    @Test("text summary, --limit, and usage errors")
    func textAndLimit() throws {
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let facts = try Fixture.writeFacts(in: directory)
        let text = CLIHarness.run(["eval", "facts.jsonl", "--model", Fixture.modelFolder.path], in: directory)
        try #require(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("efficacy         0.0%"))
        #expect(text.stdout.contains("top-1           33.3%"))
        #expect(text.stdout.contains("1 of 3 facts have no target_true"))

        let limited = CLIHarness.run(["eval", facts.path, "--model", Fixture.modelFolder.path, "--limit", "1", "--json"], in: directory)
        try #require(limited.status == 0, "\(limited.stderr)")
        let json = try Fixture.json(limited.stdout)
        #expect(json["n"] as? Int == 1 && json["limit"] as? Int == 1)
        #expect((json["facts"] as? [Any])?.count == 1)

        #expect(CLIHarness.run(["eval", facts.path, "--limit", "0"], in: directory).status == 64)
        #expect(CLIHarness.run(["eval", facts.path, "--model", "m", "--at", "HEAD"], in: directory).status == 64)
        #expect(CLIHarness.run(["eval"], in: directory).status == 64)
        let missing = CLIHarness.run(["eval", "absent.jsonl", "--model", Fixture.modelFolder.path], in: directory)
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("Error: ") && missing.stderr.contains("absent.jsonl"))
    }

    @Test("the built binary evaluates and exits 0; a bad facts file exits 1")
    func binary() throws {
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let facts = try Fixture.writeFacts(in: directory)
        let outcome = try CLIHarness.runBinary(["eval", facts.path, "--model", Fixture.modelFolder.path, "--json"], in: directory)
        try #require(outcome.status == 0, "\(outcome.stderr)")
        #expect(try Fixture.json(outcome.stdout)["n"] as? Int == 3)
        try "{\"prompt\": \"{} is\"}\n".write(to: facts, atomically: true, encoding: .utf8)
        let bad = try CLIHarness.runBinary(["eval", facts.path, "--model", Fixture.modelFolder.path], in: directory)
        #expect(bad.status == 1)
        #expect(bad.stderr.hasPrefix("Error: ") && bad.stderr.contains("facts.jsonl:1"))
    }

    @Test("inside a repository the metrics of a commit are stored under the file's SHA-256")
    func storedInLedger() throws {
        let directory = try Fixture.repository()
        defer { CLIHarness.cleanUp(directory) }
        let facts = try Fixture.writeFacts(in: directory)
        let unborn = CLIHarness.run(["eval", facts.path], in: directory)
        try #require(unborn.status == 0, "\(unborn.stderr)")
        #expect(unborn.stdout.contains("not stored: the branch has no commit yet"))

        let repository = try Repository.open(at: directory)
        let commit = try repository.writeCommit(Fixture.draft(parent: nil, facts: [Fact(subject: "Tilea Gropaendic", prompt: "{} works as a", targetNew: "baker")], seed: 1))
        let outcome = CLIHarness.run(["eval", facts.path, "--json"], in: directory)
        try #require(outcome.status == 0, "\(outcome.stderr)")
        let json = try Fixture.json(outcome.stdout)
        #expect(json["stored"] as? Bool == true)
        #expect(json["version"] as? String == commit.id)

        let digest = try SHA256.hash(fileAt: facts).hex
        let stored = try #require(try repository.evaluation(commit: commit.id, datasetDigest: digest))
        #expect(stored.metrics["n"]?.doubleValue == 3)
        #expect(stored.metrics["efficacy"]?.doubleValue == json["efficacy"] as? Double)
        #expect(stored.metrics["dataset_sha256"]?.stringValue == digest)
        #expect(stored.metrics["facts"]?.arrayValue?.count == 3)

        // --at names the version; the text output says where the metrics went.
        let text = CLIHarness.run(["eval", facts.path, "--at", String(commit.id.prefix(12)), "--limit", "2"], in: directory)
        try #require(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("stored for \(commit.id.prefix(10))"))
        #expect(try repository.evaluation(commit: commit.id, datasetDigest: digest)?.metrics["n"]?.doubleValue == 2)
        #expect(try repository.evaluations(of: commit.id).count == 1)
    }
}
