// The MLEdit library called directly, no argv: commit, revert, rebase, diff and export on the
// tiny-facts GPT-2 fixture (4 layers, knows 300 invented facts), so every edit really runs.
import Foundation
@testable import Ledger
@testable import MLEdit
import Models
import Solvers
import Tensors
import Testing

@Suite("Workspace API", .serialized)
struct WorkspaceTests {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let model = testsDirectory.appendingPathComponent("Fixtures/tiny-facts-gpt2")

    /// A new repository of the fixture in a temporary directory, its caches there too.
    struct Sandbox {
        let directory: URL
        let workspace: Workspace
        var notes: [String] { collected.lines }
        private let collected = Notes()

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-workspace-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var environment = ProcessInfo.processInfo.environment
            environment["MLEDIT_CACHE"] = directory.appendingPathComponent("cache").path
            environment["MLEDIT_CORPUS"] = try WorkspaceTests.corpus().path
            environment["MLEDIT_AUTHOR"] = "tests"
            let notes = collected
            let session = Session(environment: environment, currentDirectory: directory, note: { notes.lines.append($0) })
            workspace = try Workspace.create(model: WorkspaceTests.model, at: directory, session: session)
        }

        func cleanUp() { try? FileManager.default.removeItem(at: directory) }

        /// The greedy continuation (3 tokens) of each prompt at `revision`.
        func answers(_ prompts: [String], at revision: String = "HEAD") throws -> [[Int]] {
            let version = try workspace.model(at: revision)
            let ids = prompts.map { FactTokenization.text($0, tokenizer: version.tokenizer) }
            return EvaluationScorer().greedyContinuations(model: version.model, prompts: ids, tokenCount: 3,
                                                          stopTokenID: version.model.eosTokenID)
        }
    }

    final class Notes: @unchecked Sendable { var lines: [String] = [] }

    static func corpus() throws -> URL {
        let cache = ProcessInfo.processInfo.environment["MLEDIT_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".cache/mledit")
        let url = cache.appendingPathComponent("enwiki-sample.txt")
        try #require(FileManager.default.fileExists(atPath: url.path), "run scripts/fetch-corpus first (make test does)")
        return url
    }

    /// Facts `range` of the fixture's invented facts, rewritten to their new targets.
    static func facts(_ range: Range<Int>) throws -> [EditRequest] {
        let data = try Data(contentsOf: model.appendingPathComponent("facts.json"))
        let records = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return try records[range].enumerated().map { index, record in
            let rewrite = try #require(record["requested_rewrite"] as? [String: Any])
            return EditRequest(subject: try #require(rewrite["subject"] as? String), prompt: try #require(rewrite["prompt"] as? String),
                               targetNew: try #require((rewrite["target_new"] as? [String: Any])?["str"] as? String),
                               targetTrue: (rewrite["target_true"] as? [String: Any])?["str"] as? String, line: index + 1)
        }
    }

    static func options(_ method: EditMethod = .memit, message: String) -> CommitOptions {
        var options = CommitOptions()
        options.method = method
        options.message = message
        return options
    }

    @Test("commit records the facts, lands them, and moves HEAD")
    func commit() throws {
        let box = try Sandbox()
        defer { box.cleanUp() }
        let facts = try Self.facts(0..<3)
        let before = try box.answers(facts.map(\.filledPrompt))
        let outcome = try box.workspace.commit(facts: facts, options: Self.options(message: "A"))
        #expect(outcome.record.message == "A")
        #expect(outcome.record.author == "tests")
        #expect(outcome.edit.checks.count == 3 && outcome.edit.checks.allSatisfy(\.landed))
        #expect(try box.workspace.repository.head().commitID == outcome.record.id)
        #expect(try box.workspace.repository.facts(of: outcome.record.id).map(\.fact) == facts.map(\.ledgerFact))
        #expect(try box.answers(facts.map(\.filledPrompt)) != before)
        let report = try box.workspace.evaluate(facts)
        #expect(report.count == 3 && report.efficacy == 1)
        // The health of the new version was measured and stored.
        #expect(try box.workspace.health(of: [outcome.record.id])[outcome.record.id]?.commitFacts == 3)
    }

    @Test("revert takes the edit out and keeps the later commit; a second revert is a conflict")
    func revert() throws {
        let box = try Sandbox()
        defer { box.cleanUp() }
        let a = try Self.facts(0..<3), b = try Self.facts(3..<5)
        let before = try box.answers(a.map(\.filledPrompt))
        let first = try box.workspace.commit(facts: a, options: Self.options(.emmet, message: "A"))
        try box.workspace.commit(facts: b, options: Self.options(.emmet, message: "B"))
        let bAnswers = try box.answers(b.map(\.filledPrompt))

        let outcome = try box.workspace.revert(first.record.id)
        #expect(outcome.revertedID == first.record.id)
        #expect(outcome.record.message == "Revert \"A\"")
        #expect(outcome.resolvedCommits.count == 1)
        #expect(try box.answers(a.map(\.filledPrompt)) == before, "the reverted facts did not come back")
        #expect(try box.answers(b.map(\.filledPrompt)) == bAnswers, "the later commit's facts moved")
        let verification = try #require(outcome.verification)
        #expect(verification.inForce == 2 && verification.checked == 2 && verification.notLanded.isEmpty)
        #expect(verification.reverted == 3 && verification.revertedStillEdited.isEmpty && verification.revertedChanged.isEmpty,
                "\(verification.warnings)")
        #expect(try box.workspace.fsck().isEmpty)

        #expect { try box.workspace.revert(first.record.id) } throws: { error in
            (error as? MLEditError)?.kind == .conflict && "\(error)".contains("already reverted")
        }
    }

    @Test("memory_context_weight: a commit holds earlier prompts at every position, is stored with the setting, and revert replays it")
    func contextKeysInCommitsAndReplays() throws {
        func history(contextWeight: Double?) throws -> (Sandbox, [CommitOutcome]) {
            let box = try Sandbox()
            var options = Self.options(message: "context")
            if let contextWeight {
                let file = box.directory.appendingPathComponent("hparams.json")
                try Data("{\"memory_context_weight\": \(contextWeight)}".utf8).write(to: file)
                options.hyperparametersFile = file
            }
            var outcomes: [CommitOutcome] = []
            for range in [0..<3, 3..<6, 8..<11] {
                outcomes.append(try box.workspace.commit(facts: try Self.facts(range), options: options))
            }
            return (box, outcomes)
        }
        let (held, heldCommits) = try history(contextWeight: 0.05)
        defer { held.cleanUp() }
        let (plain, plainCommits) = try history(contextWeight: nil)
        defer { plain.cleanUp() }
        func norms(_ box: Sandbox, _ id: String) throws -> [Double] {
            try box.workspace.repository.deltas(of: id).map(\.norm)
        }
        #expect(try heldCommits[0].record.hyperparameters.canonicalText().contains("\"memory_context_weight\":0.05"))
        #expect(try !plainCommits[0].record.hyperparameters.canonicalText().contains("memory_context_weight"))
        // The first commit has nothing in force to hold: the same edit. The second holds the first's prompts.
        #expect(try norms(held, heldCommits[0].record.id) == norms(plain, plainCommits[0].record.id))
        #expect(try norms(held, heldCommits[1].record.id) != norms(plain, plainCommits[1].record.id))
        #expect(heldCommits.allSatisfy { $0.edit.checks.allSatisfy(\.landed) })

        let kept = try Self.facts(0..<3) + Self.facts(8..<11)
        let keptAnswers = try held.answers(kept.map(\.filledPrompt))
        let outcome = try held.workspace.revert(heldCommits[1].record.id)
        #expect(outcome.resolvedCommits == [heldCommits[2].record.id])
        let verification = try #require(outcome.verification)
        #expect(verification.notLanded.isEmpty && verification.revertedStillEdited.isEmpty, "\(verification.warnings)")
        #expect(try held.answers(kept.map(\.filledPrompt)) == keptAnswers)
        #expect(try held.workspace.fsck().isEmpty)
    }

    @Test("the check after a replay names facts in force that do not land and reverted facts that did not come back")
    func replayVerificationFindsFailures() throws {
        let box = try Sandbox()
        defer { box.cleanUp() }
        let a = try Self.facts(0..<3), weak = try Self.facts(3..<5)
        let first = try box.workspace.commit(facts: a, options: Self.options(message: "A"))
        // One step and almost no room for δ, recorded without verification: these facts are in
        // force but do not land.
        let weakFile = box.directory.appendingPathComponent("weak.json")
        try #"{"v_num_grad_steps": 1, "clamp_norm_factor": 0.01}"#.write(to: weakFile, atomically: true, encoding: .utf8)
        var options = Self.options(message: "weak")
        options.hyperparametersFile = weakFile
        options.verify = false
        let second = try box.workspace.commit(facts: weak, options: options)
        try #require(second.edit.checks.allSatisfy { !$0.landed })
        var context = try EditContext.load(repository: box.workspace.repository, parentID: nil, session: box.workspace.session)
        let atSecond = try ReplayVerification.check(commitID: second.record.id, context: &context)
        #expect(atSecond.inForce == 5 && atSecond.checked == 5)
        #expect(atSecond.notLanded.count == 2 && atSecond.notLanded.allSatisfy { check in weak.contains { check.fact.contains($0.subject) } })
        #expect(atSecond.warnings.count == 2 && atSecond.summary.hasPrefix("3 of 5 facts in force land"))

        // Checked against the edited version itself, the reverted facts answer otherwise than "before".
        let revert = try box.workspace.revert(first.record.id)
        #expect(revert.verification?.revertedChanged.isEmpty == true && revert.verification?.revertedStillEdited.isEmpty == true)
        let factsOfFirst = try box.workspace.repository.facts(of: first.record.id)
        let wrongReference = try ReplayVerification.check(commitID: revert.record.id, context: &context,
                                                          revertedFacts: factsOfFirst, revertedParentID: first.record.id)
        #expect(wrongReference.reverted == 3 && wrongReference.revertedChanged.count == 3 && wrongReference.revertedStillEdited.isEmpty)
    }

    @Test("revert re-solves a ROME commit that stored no targets from its keys and values, one fact at a time")
    func revertOfCommitsWithoutTargets() throws {
        let box = try Sandbox()
        defer { box.cleanUp() }
        let a = try Self.facts(0..<2), b = try Self.facts(2..<5)
        let before = try box.answers(a.map(\.filledPrompt))
        let first = try box.workspace.commit(facts: a, options: Self.options(.rome, message: "A"))
        let second = try box.workspace.commit(facts: b, options: Self.options(.rome, message: "B"))
        let bAnswers = try box.answers(b.map(\.filledPrompt))
        // Ledgers from before edit targets were stored hold only keys and values (today's commits
        // store no values): rewrite the second commit that way. ROME edits one layer, whose target
        // values are the targets z.
        let database = box.workspace.repository.database
        let targets = try #require(try box.workspace.repository.editTargets(of: second.record.id))
        let stored = try #require(try box.workspace.repository.editVectors(of: second.record.id).first)
        #expect(stored.values.rows == 0, "a commit with targets stores no target values")
        let (blobs, checksum) = try MatrixBlob.encode([stored.keys, targets.values], tag: "mledit-vectors-1", object: "test")
        try database.execute("DROP TRIGGER edit_vectors_are_immutable")
        try database.execute("""
            UPDATE edit_vectors SET value_rows = ?1, value_cols = ?2, sha256 = ?3, keys = ?4, target_values = ?5,
                                    key_dtype = 'f64', value_dtype = 'f64' WHERE commit_id = ?6
            """, [.integer(Int64(targets.values.rows)), .integer(Int64(targets.values.cols)), .text(checksum),
                  .blob(blobs[0]), .blob(blobs[1]), .text(second.record.id)])
        try database.execute("DROP TRIGGER edit_targets_are_permanent")
        try database.execute("DELETE FROM edit_targets WHERE commit_id = ?", [.text(second.record.id)])
        #expect(try box.workspace.repository.editTargets(of: second.record.id) == nil)

        let outcome = try box.workspace.revert(first.record.id)
        #expect(outcome.resolvedCommits == [second.record.id])
        #expect(try box.answers(a.map(\.filledPrompt)) == before, "the reverted facts did not come back")
        #expect(try box.answers(b.map(\.filledPrompt)) == bAnswers, "the later commit's facts moved")
    }

    @Test("bulk commits go in batches, store their evaluations, and resume where an interrupted run stopped")
    func bulk() throws {
        let box = try Sandbox()
        defer { box.cleanUp() }
        let repository = box.workspace.repository
        let facts = try Self.facts(0..<5)
        func ids(_ outcomes: [BatchOutcome]) -> [(id: String, new: Bool)] {
            outcomes.map { outcome in
                switch outcome {
                case .committed(let commit, _): return (commit.record.id, true)
                case .alreadyCommitted(let record): return (record.id, false)
                }
            }
        }
        let first = try box.workspace.commit(facts: facts, batchSize: 2, evaluateEvery: 4, factsDigest: "digest",
                                             options: Self.options(message: "bulk"))
        let made = ids(first)
        #expect(made.count == 3 && made.allSatisfy(\.new))
        #expect(try repository.lineage(of: made[2].id).map(\.message) == ["bulk [batch 3/3]", "bulk [batch 2/3]", "bulk [batch 1/3]"])
        #expect(try repository.facts(of: made[2].id).count == 1)
        // The evaluation after 4 facts, of the first 4 facts, at the second batch only.
        for (index, commit) in made.enumerated() {
            let stored = try repository.evaluation(commit: commit.id, datasetDigest: Workspace.datasetDigest(factsDigest: "digest", count: 4))
            #expect((stored != nil) == (index == 1))
        }
        if case .committed(_, let evaluation) = first[1] { #expect(evaluation?.count == 4) }

        // Interrupted after the first batch: the branch stands there; the rerun commits the rest.
        try repository.updateRef("refs/heads/main", to: made[0].id, expecting: made[2].id, message: "test: interrupted")
        let resumed = ids(try box.workspace.commit(facts: facts, batchSize: 2, options: Self.options(message: "bulk")))
        #expect(resumed.map(\.new) == [false, true, true] && resumed[0].id == made[0].id)
        #expect(try repository.facts(inLineageOf: resumed[2].id).count == 5)
        // Complete: nothing left to do.
        let again = ids(try box.workspace.commit(facts: facts, batchSize: 2, options: Self.options(message: "bulk")))
        #expect(again.map(\.id) == resumed.map(\.id) && again.allSatisfy { !$0.new })
        #expect { try box.workspace.commit(facts: facts, batchSize: 0) } throws: { ($0 as? MLEditError)?.kind == .invalidInput }
    }

    @Test("rebase onto a commit replays the branch; onto an ancestor it is up to date")
    func rebase() throws {
        let box = try Sandbox()
        defer { box.cleanUp() }
        let repository = box.workspace.repository
        try box.workspace.commit(facts: try Self.facts(0..<3), options: Self.options(message: "A"))
        try repository.createBranch("side", at: try #require(try repository.head().commitID))
        try repository.checkout(branch: "side")
        let b = try Self.facts(3..<5)
        let side = try box.workspace.commit(facts: b, options: Self.options(message: "B"))
        let bOnA = try box.answers(b.map(\.filledPrompt))
        try repository.checkout(branch: "main")
        try box.workspace.commit(facts: try Self.facts(5..<7), options: Self.options(message: "C"))
        try repository.checkout(branch: "side")

        guard case .replayed(let branch, let oldHead, let commits, _, let verificationOfRebase) = try box.workspace.rebase(onto: "main") else {
            Issue.record("the rebase replayed nothing")
            return
        }
        #expect(branch == "refs/heads/side" && oldHead == side.record.id)
        #expect(commits.map(\.source.id) == [side.record.id])
        #expect(commits[0].new.sourceCommitID == side.record.id)
        #expect(try repository.head().commitID == commits[0].new.id)
        #expect(try box.answers(b.map(\.filledPrompt)) == bOnA, "B's facts changed in the replay")
        let verification = try #require(verificationOfRebase)
        #expect(verification.inForce == 7 && verification.checked == 7 && verification.notLanded.isEmpty, "\(verification.warnings)")
        guard case .upToDate = try box.workspace.rebase(onto: "main") else {
            Issue.record("a rebase onto an ancestor replayed commits")
            return
        }
    }

    @Test("diff lists the facts and weights two versions differ in, and their behaviour")
    func diff() throws {
        let box = try Sandbox()
        defer { box.cleanUp() }
        let a = try box.workspace.commit(facts: try Self.facts(0..<3), options: Self.options(message: "A"))
        let b = try box.workspace.commit(facts: try Self.facts(3..<5), options: Self.options(message: "B"))
        let diff = try box.workspace.diff(a.record.id, b.record.id, behaviourTokens: 2)
        #expect(diff.sameBaseModel)
        #expect(diff.facts.added.map(\.fact.subject) == (try Self.facts(3..<5)).map(\.subject))
        #expect(diff.facts.removed.isEmpty && diff.facts.superseded.isEmpty)
        #expect(!diff.tensors.isEmpty && diff.tensors.allSatisfy { $0.difference.frobeniusNorm > 0 && $0.commitsAdded == [b.record.id] })
        let behaviour = try #require(diff.behaviour)
        #expect(behaviour.count == 2 && behaviour.contains(where: \.changed))
        let same = try box.workspace.diff(b.record.id, b.record.id)
        #expect(same.tensors.isEmpty && same.facts.added.isEmpty && same.behaviour == nil)
    }

    @Test("export writes the version's weights, and never into the repository")
    func export() throws {
        let box = try Sandbox()
        defer { box.cleanUp() }
        let a = try box.workspace.commit(facts: try Self.facts(0..<3), options: Self.options(message: "A"))
        let output = box.directory.appendingPathComponent("out")
        guard case .safetensors(let report, let edited) = try box.workspace.export(format: .safetensors, to: output,
                                                                                      options: ExportOptions(precision: .f32)) else {
            Issue.record("a safetensors export reported another format")
            return
        }
        #expect(edited == a.edit.result.layers.count && report.files.contains("model.safetensors"))
        let exported = try ModelLoader.load(url: output)
        let version = try box.workspace.model(at: a.record.id)
        for layer in a.edit.result.layers.map(\.layer) {
            #expect(exported.mlpOutputWeight(layer: layer) == version.model.mlpOutputWeight(layer: layer))
        }
        let ledgerFolder = box.directory.appendingPathComponent(".mledit/out.gguf")
        #expect { try box.workspace.export(format: .gguf, to: ledgerFolder) } throws: { error in
            (error as? MLEditError)?.kind == .invalidInput && "\(error)".contains(".mledit")
        }
        #expect(!FileManager.default.fileExists(atPath: ledgerFolder.path))
    }
}
