// `mledit diff` on repositories over the tiny-facts-gpt2 fixture with commits written through the
// Repository API: fact changes (added, removed, superseded), the norm and rank of the weight
// difference against dense computations, and --behaviour against generate on materialized weights.
import Foundation
import Ledger
import Models
import Tensors
import Testing
@testable import MLEditCLI

@Suite("mledit diff")
struct DiffCommandTests {
    typealias Fixture = EvalFixture

    static func fact(_ subject: String, _ target: String, prompt: String = "{} works as a") -> Fact {
        Fact(subject: subject, prompt: prompt, targetNew: target, targetTrue: "pilot")
    }

    /// main: A (2 facts) → B (1 new fact, 1 superseding); side: A → C (1 new fact).
    struct History {
        var directory: URL
        var repository: Repository
        var a: CommitRecord, b: CommitRecord, c: CommitRecord

        init(scale: Double = 0.01) throws {
            directory = try Fixture.repository()
            repository = try Repository.open(at: directory)
            a = try repository.writeCommit(Fixture.draft(parent: nil, facts: [fact("Tilea Gropaendic", "baker"), fact("Simima Thouplisk", "farmer")], seed: 11, scale: scale))
            try repository.createBranch("side", at: a.id)
            b = try repository.writeCommit(Fixture.draft(parent: a.id, facts: [fact("Dithak Boudrouson", "nurse"), fact("Tilea Gropaendic", "chef")], seed: 12, scale: scale))
            c = try repository.writeCommit(Fixture.draft(parent: a.id, facts: [fact("Dotero Lakamic", "judge")], seed: 13, scale: scale), onBranch: "side")
        }

        /// U Vᵀ of a commit's stored (decoded) delta, in Float64.
        func dense(_ commit: CommitRecord) throws -> Matrix<Double> {
            try repository.decodeDelta(commit: commit.id, tensor: Fixture.tensor).dense().toDouble()
        }
    }

    func diffJSON(_ arguments: [String], in directory: URL) throws -> [String: Any] {
        let outcome = CLIHarness.run(["diff"] + arguments + ["--json"], in: directory)
        try #require(outcome.status == 0, "\(outcome.stderr)")
        return try Fixture.json(outcome.stdout)
    }

    @Test("facts added, removed and superseded, both ways")
    func factChanges() throws {
        let history = try History()
        defer { CLIHarness.cleanUp(history.directory) }
        let forward = try diffJSON([history.a.id, "main"], in: history.directory)
        #expect(forward["from"] as? String == history.a.id && forward["to"] as? String == history.b.id)
        let facts = try #require(forward["facts"] as? [String: Any])
        let added = try #require(facts["added"] as? [[String: Any]])
        let removed = try #require(facts["removed"] as? [[String: Any]])
        let superseded = try #require(facts["superseded"] as? [[String: Any]])
        #expect(added.map { $0["subject"] as? String } == ["Dithak Boudrouson"])
        #expect(added.first?["commit"] as? String == history.b.id)
        #expect(removed.isEmpty)
        #expect(superseded.count == 1)
        #expect(superseded.first?["subject"] as? String == "Tilea Gropaendic")
        #expect((superseded.first?["from"] as? [String: Any])?["target_new"] as? String == "baker")
        #expect((superseded.first?["to"] as? [String: Any])?["target_new"] as? String == "chef")

        let backward = try diffJSON(["main", history.a.id], in: history.directory)
        let back = try #require(backward["facts"] as? [String: Any])
        #expect((back["removed"] as? [[String: Any]])?.map { $0["subject"] as? String } == ["Dithak Boudrouson"])
        #expect((back["added"] as? [Any])?.isEmpty == true)
        #expect(((back["superseded"] as? [[String: Any]])?.first?["to"] as? [String: Any])?["target_new"] as? String == "baker")

        // Sibling branches: each side's own facts.
        let sides = try #require(try diffJSON(["main", "side"], in: history.directory)["facts"] as? [String: Any])
        #expect((sides["added"] as? [[String: Any]])?.map { $0["subject"] as? String } == ["Dotero Lakamic"])
        #expect((sides["removed"] as? [[String: Any]])?.map { $0["subject"] as? String } == ["Dithak Boudrouson"])
        #expect((sides["superseded"] as? [[String: Any]])?.map { ($0["to"] as? [String: Any])?["target_new"] as? String } == ["baker"])

        let text = CLIHarness.run(["diff", history.a.id, "main"], in: history.directory)
        try #require(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("facts: 1 added, 0 removed, 1 superseded"))
        #expect(text.stdout.contains("+ \"Dithak Boudrouson works as a\" → nurse"))
        #expect(text.stdout.contains("~ \"Tilea Gropaendic works as a\": baker → chef"))
    }

    @Test("the weight difference's norm and rank match the dense difference")
    func tensorDifference() throws {
        let history = try History()
        defer { CLIHarness.cleanUp(history.directory) }
        func tensors(_ from: String, _ to: String) throws -> [[String: Any]] {
            try #require(try diffJSON([from, to], in: history.directory)["tensors"] as? [[String: Any]])
        }
        let cases: [(String, String, Matrix<Double>, Int)] = [
            (history.a.id, history.b.id, try history.dense(history.b), 2),                                // B's delta only
            (history.b.id, history.a.id, -1.0 * (try history.dense(history.b)), 2),
            (history.b.id, history.c.id, try history.dense(history.c) - history.dense(history.b), 3),     // rank 1 + rank 2
        ]
        for (from, to, dense, rank) in cases {
            let entries = try tensors(from, to)
            try #require(entries.count == 1)
            let entry = entries[0]
            #expect(entry["tensor"] as? String == Fixture.tensor && entry["layer"] as? Int == 1)
            #expect(entry["rows"] as? Int == 128 && entry["cols"] as? Int == 512)
            #expect(entry["rank"] as? Int == rank)
            let norm = try #require(entry["frobenius_norm"] as? Double)
            #expect(abs(norm - dense.frobeniusNorm) <= 1e-9 * dense.frobeniusNorm + 1e-12,
                    "norm \(norm) vs dense \(dense.frobeniusNorm)")
            // Singular values against the eigenvalues of the dense DᵀD... via D Dᵀ (128 × 128).
            let gram = dense.multiplied(by: dense, transposeOther: true)
            let expected = try SymmetricEigenDecomposition(gram).eigenvalues.reversed().prefix(rank).map { max($0, 0).squareRoot() }
            let values = try #require(entry["singular_values"] as? [Double])
            let worst = zip(values, expected).map { abs($0 - $1) / expected[0] }.max() ?? 1
            #expect(worst < 1e-8, "largest relative singular value difference \(worst)")
            #expect(values.dropFirst(rank).allSatisfy { $0 < 1e-6 * values[0] })
        }
        let identical = CLIHarness.run(["diff", "main", "main"], in: history.directory)
        #expect(identical.status == 0)
        #expect(identical.stdout.contains("facts: 0 added, 0 removed, 0 superseded"))
        #expect(identical.stdout.contains("weights: identical"))
        #expect(try tensors("main", "main").isEmpty)

        let text = CLIHarness.run(["diff", history.a.id, history.b.id], in: history.directory)
        #expect(text.stdout.contains("blk.1.ffn_down.weight  layer 1  128×512"))
        #expect(text.stdout.contains("rank 2"))
    }

    @Test("--behaviour: greedy continuations under both versions equal generate on materialized weights")
    func behaviour() throws {
        let history = try History(scale: 3)
        defer { CLIHarness.cleanUp(history.directory) }
        let json = try diffJSON([history.a.id, history.b.id, "--behaviour", "--tokens", "3"], in: history.directory)
        let changes = try #require(json["behaviour"] as? [[String: Any]])
        #expect(changes.map { $0["prompt"] as? String } == ["Dithak Boudrouson works as a", "Tilea Gropaendic works as a"])

        let model = try ModelLoader.load(url: Fixture.modelFolder)
        let tokenizer = try Tokenizer(tokenizerJSON: Fixture.modelFolder.appendingPathComponent("tokenizer.json"))
        let base = model.mlpOutputWeight(layer: 1)
        func continuation(_ prompt: String, at commit: CommitRecord) throws -> [Int] {
            let deltas = try history.repository.decodedDeltas(tensor: Fixture.tensor, at: commit.id)
            model.setMLPOutputWeight(layer: 1, try Materializer.apply(base: base, deltas: deltas))
            return model.generate(prompt: tokenizer.encode(prompt), maxNewTokens: 3).tokens
        }
        var changed = 0
        for change in changes {
            let prompt = try #require(change["prompt"] as? String)
            let from = try #require(change["from"] as? [String: Any])
            let to = try #require(change["to"] as? [String: Any])
            #expect(from["ids"] as? [Int] == (try continuation(prompt, at: history.a)))
            #expect(to["ids"] as? [Int] == (try continuation(prompt, at: history.b)))
            #expect(from["text"] as? String == tokenizer.decode(from["ids"] as? [Int] ?? []))
            #expect(change["changed"] as? Bool == ((from["ids"] as? [Int]) != (to["ids"] as? [Int])))
            if change["changed"] as? Bool == true { changed += 1 }
        }
        #expect(changed >= 1, "a delta of scale 3 changed no continuation")

        let text = CLIHarness.run(["diff", history.a.id, history.b.id, "--behaviour"], in: history.directory)
        try #require(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("behaviour (greedy, 3 tokens):"))
        #expect(text.stdout.contains("  Tilea Gropaendic works as a"))
    }

    @Test("errors: unknown revision (1), missing argument and bad --tokens (64), outside a repository (1)")
    func errors() throws {
        let history = try History()
        defer { CLIHarness.cleanUp(history.directory) }
        let unknown = CLIHarness.run(["diff", "main", "nosuchbranch"], in: history.directory)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.hasPrefix("Error: ") && unknown.stderr.contains("nosuchbranch"))
        #expect(CLIHarness.run(["diff", "main"], in: history.directory).status == 64)
        #expect(CLIHarness.run(["diff", "main", "side", "--tokens", "0"], in: history.directory).status == 64)
        let outside = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(outside) }
        #expect(CLIHarness.run(["diff", "a", "b"], in: outside).status == 1)
    }
}
