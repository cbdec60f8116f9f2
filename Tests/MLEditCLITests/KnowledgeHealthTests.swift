// The general-knowledge part of the health check. The tiny fixture model knows none of the
// shipped candidates, so most tests give the check a candidate list of facts it was trained on
// (the first of facts.json with their true answers): the base-known set measured once and stored
// under the root, accuracy along the health history (kept by small deltas, lowered by a damaging
// one), exclusion of candidates an edit in force is about — also after a real edit through
// `mledit commit` — rows stored before the probe, and `log --json --health` from the binary.
import Foundation
@testable import Ledger
import Models
import Solvers
import Testing
@testable import MLEdit
@testable import MLEditCLI

@Suite("General-knowledge health", .serialized)
struct KnowledgeHealthTests {
    /// The first `count` facts the fixture model was trained on, answered with their true object.
    static func trainedFacts(_ count: Int) throws -> KnowledgeProbe {
        let data = try Data(contentsOf: EvalFixture.modelFolder.appendingPathComponent("facts.json"))
        let records = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return KnowledgeProbe(candidates: try records.prefix(count).map { record in
            let rewrite = try #require(record["requested_rewrite"] as? [String: Any])
            return KnowledgeFact(subject: try #require(rewrite["subject"] as? String), prompt: try #require(rewrite["prompt"] as? String),
                                 answer: try #require((rewrite["target_true"] as? [String: Any])?["str"] as? String))
        })
    }

    static func console(_ directory: URL, notes: OutputCapture) -> Console {
        Console(environment: CLIHarness.environment(), currentDirectory: directory, errorIsTerminal: false,
                out: { _ in }, err: { notes.append($0) })
    }

    @Test("the base-known set is measured once, stored under the root; small deltas keep it, a damaging one lowers it, edited subjects are left out")
    func accuracyAlongHistory() throws {
        let history = try HealthHistory()
        defer { CLIHarness.cleanUp(history.directory) }
        let probe = try Self.trainedFacts(24)
        let notes = OutputCapture()
        let console = Self.console(history.directory, notes: notes)
        let commits = [history.a, history.b, history.c, history.d]
        let metrics = try HealthCheck.metrics(of: commits.map(\.id), repository: history.repository, session: console.session,
                                              knowledgeProbe: probe)
        // The base model knows every fact it was trained on; the set is stored under the root A only.
        let digest = HealthCheck.knowledgeDigest(probe)
        let baseline = try #require(try HealthCheck.storedKnowledgeBaseline(root: history.a.id, probe: probe, repository: history.repository))
        #expect(baseline.known == Array(0..<24))
        for commit in [history.b, history.c, history.d] {
            #expect(try history.repository.evaluation(commit: commit.id, datasetDigest: digest) == nil)
        }
        func knowledge(_ commit: CommitRecord) throws -> KnowledgeAccuracy { try #require(metrics[commit.id]?.knowledge) }
        let a = try knowledge(history.a), b = try knowledge(history.b), c = try knowledge(history.c), d = try knowledge(history.d)
        for k in [a, b, c, d] { #expect((k.candidates, k.baseKnown, k.candidatesDigest) == (24, 24, digest)) }
        // A states facts 0 and 1 (Tilea Gropaendic, Brazothia), B facts 2 and 3 (and Ziovrula
        // Masosson is also the subject of fact 15), C fact 4, D fact 5: those candidates are
        // excluded wherever the commit is in force.
        #expect((a.excluded, a.checked, a.top1) == (2, 22, 22))
        #expect((b.excluded, b.checked, b.top1) == (5, 19, 19))
        #expect(a.accuracy == 1 && b.accuracy == 1 && b.text == "100% (19/19, 5 excluded as edited)")
        #expect((c.excluded, c.checked) == (6, 18))
        #expect(try #require(c.accuracy) < 0.8, "the damaging delta of C left \(c.top1)/\(c.checked) known")
        #expect((d.excluded, d.checked, d.top1) == (3, 21, 21))  // B's facts are not in force on the side branch

        // The log lines show the share and its change.
        let lines = HealthCheck.logLines(lineage: try history.repository.lineage(of: history.c.id), metrics: metrics)
        #expect(lines[history.a.id]?.contains("Knowledge: 100% (22/22, 2 excluded as edited) (+0.0 points vs base)") == true)
        let cLine = try #require(lines[history.c.id]?.first { $0.hasPrefix("Knowledge: ") })
        #expect(cLine.contains("points vs parent") && cLine.contains(" (-"), "\(cLine)")

        // Stored: measuring again reads everything back; another candidate list measures again.
        let again = try HealthCheck.metrics(of: commits.map(\.id), repository: history.repository, session: console.session,
                                            knowledgeProbe: probe)
        #expect(again == metrics)
        #expect(notes.value.components(separatedBy: "health: measuring").count == 2, "notes: \(notes.value)")
        let other = try HealthCheck.metrics(of: [history.b.id], repository: history.repository, session: console.session,
                                            knowledgeProbe: try Self.trainedFacts(10))
        #expect(other[history.b.id]?.knowledge?.baseKnown == 10)
        #expect(notes.value.contains("health: measuring 1 commit"))
    }

    @Test("a large base-known set is checked on a fixed, evenly spaced sample, exclusions counted over all of it, and the text says so")
    func sample() throws {
        let probe = KnowledgeProbe(candidates: (0..<1200).map { KnowledgeFact(subject: "Subject\($0)", prompt: "{} is known for", answer: "x") })
        let baseline = KnowledgeBaseline(probe: probe, known: Array(0..<1000))
        let size = HealthCheck.knowledgeSampleSize
        let all = baseline.checked(editsInForce: [])
        #expect(all.indices.count == size && all.excluded == 0)
        #expect(all.indices.first == baseline.known.first && Set(all.indices).count == size)
        let gaps = zip(all.indices, all.indices.dropFirst()).map { $1 - $0 }
        #expect(gaps.allSatisfy { $0 == 3 || $0 == 4 }, "\(gaps)")
        // One edit about a sampled subject, one about an unsampled one: both excluded, one fewer checked.
        let unsampled = try #require(baseline.known.first { !all.indices.contains($0) })
        let edits = [all.indices[10], unsampled].map { EditRequest(subject: "Subject\($0)", prompt: "{} works as a", targetNew: "y") }
        let edited = baseline.checked(editsInForce: edits)
        #expect(edited.excluded == 2 && edited.indices == all.indices.filter { $0 != all.indices[10] })
        #expect(baseline.checked(editsInForce: []) == all)
        let accuracy = KnowledgeAccuracy(candidatesDigest: "d", candidates: 1200, baseKnown: 1000, excluded: 2, checked: 255, top1: 250)
        #expect(accuracy.text == "98% (250/255, a sample of 998 facts, 2 excluded as edited)")
    }

    @Test("after a commit the base-known set is measured on the base model first; the new commit's own facts are excluded")
    func afterCommit() throws {
        let directory = try EvalFixture.repository()
        defer { CLIHarness.cleanUp(directory) }
        let repository = try Repository.open(at: directory)
        let probe = try Self.trainedFacts(12)
        let console = Self.console(directory, notes: OutputCapture())
        let root = try repository.writeCommit(EvalFixture.draft(parent: nil, facts: [HealthHistory.known("Brazothia", "The capital of {} is", "Giokamton")], seed: 26))
        // The context stands on the root, as after computing a child's edit.
        var context = try EditContext.load(repository: repository, parentID: root.id, session: console.session)
        let child = try repository.writeCommit(EvalFixture.draft(parent: root.id, facts: [
            Fact(subject: "Kritroth Plosuk", prompt: "{} was born in", targetNew: "Nagranburg", targetTrue: "Zegoumburg")], seed: 27))
        #expect(HealthCheck.afterCommit(context: &context, commitID: child.id, limits: .defaults, session: console.session,
                                        knowledgeProbe: probe).isEmpty)
        #expect(context.parentID == child.id)
        #expect(try HealthCheck.storedKnowledgeBaseline(root: root.id, probe: probe, repository: repository)?.known == Array(0..<12))
        let rootKnowledge = try #require(try HealthCheck.stored(root.id, repository: repository)?.knowledge)
        let childKnowledge = try #require(try HealthCheck.stored(child.id, repository: repository)?.knowledge)
        #expect((rootKnowledge.excluded, rootKnowledge.checked, rootKnowledge.top1) == (1, 11, 11))
        #expect((childKnowledge.excluded, childKnowledge.checked, childKnowledge.top1) == (2, 10, 10))
    }

    @Test("rows stored before the knowledge probe decode without it and are measured again; inconsistent counts are refused")
    func olderRows() throws {
        let history = try HealthHistory()
        defer { CLIHarness.cleanUp(history.directory) }
        let probe = try Self.trainedFacts(8)
        let notes = OutputCapture()
        let console = Self.console(history.directory, notes: notes)
        let measured = try #require(try HealthCheck.metrics(of: [history.b.id], repository: history.repository, session: console.session,
                                                            knowledgeProbe: probe)[history.b.id])
        var older = try #require(measured.json.objectValue)
        older["knowledge"] = nil
        try history.repository.putEvaluation(commit: history.b.id, datasetDigest: HealthCheck.datasetDigest, metrics: .object(older))
        let decoded = try #require(try HealthCheck.stored(history.b.id, repository: history.repository))
        #expect(decoded.knowledge == nil && decoded.perplexity == measured.perplexity && decoded.commitFacts == measured.commitFacts)
        #expect(!HealthCheck.hasKnowledge(decoded, of: probe))
        let remeasured = try HealthCheck.metrics(of: [history.b.id], repository: history.repository, session: console.session,
                                                 knowledgeProbe: probe)
        #expect(remeasured[history.b.id] == measured)
        #expect(notes.value.components(separatedBy: "health: measuring 1 commit").count == 3, "notes: \(notes.value)")
        #expect(try HealthCheck.stored(history.b.id, repository: history.repository) == measured)

        var knowledge = try #require(measured.knowledge?.json.objectValue)
        knowledge["top1"] = .integer(Int64(measured.knowledge?.checked ?? 0) + 1)
        older["knowledge"] = .object(knowledge)
        #expect(throws: MLEditError.self) { try HealthMetrics(json: .object(older), commitID: history.b.id) }
        older["knowledge"] = .string("high")
        #expect(throws: MLEditError.self) { try HealthMetrics(json: .object(older), commitID: history.b.id) }
    }

    @Test("a real edit through mledit commit: the facts it rewrites leave the probe, the others stay known")
    func realEdit() throws {
        let box = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        box.run(["commit", "a.jsonl", "-m", "A", "--method", "emmet", "--no-health"])  // rewrites facts 0..<3
        let repository = try Repository.open(at: box.directory)
        let head = try #require(try repository.head().commitID)
        let probe = try Self.trainedFacts(24)
        let metrics = try #require(try HealthCheck.metrics(of: [head], repository: repository,
                                                           session: Self.console(box.directory, notes: OutputCapture()).session,
                                                           knowledgeProbe: probe)[head])
        let knowledge = try #require(metrics.knowledge)
        #expect(metrics.efficacy == 1)
        #expect(knowledge.baseKnown == 24 && knowledge.excluded == 3 && knowledge.checked == 21)
        #expect(try #require(knowledge.accuracy) >= 0.9, "\(knowledge.text)")
    }

    @Test("SmolLM2: the base knows at least 100 candidates; after moving the Eiffel Tower the figures match the loaded version",
          .enabled(if: FileManager.default.fileExists(atPath: TransformersLoadTests.cacheDirectory()
              .appendingPathComponent(ModelResolution.defaultModelFileName).path)))
    func smolLM2() throws {
        let directory = try TransformersLoadTests.repository(.smolLM2)
        defer { CLIHarness.cleanUp(directory) }
        let repository = try Repository.open(at: directory)
        let head = try #require(try repository.head().commitID)
        let session = Self.console(directory, notes: OutputCapture()).session
        let knowledge = try #require(try HealthCheck.metrics(of: [head], repository: repository, session: session)[head]?.knowledge)
        let baseline = try #require(try HealthCheck.storedKnowledgeBaseline(root: head, probe: .general, repository: repository))
        #expect(knowledge.baseKnown == baseline.known.count && knowledge.baseKnown >= 100, "\(knowledge.text)")
        // "The Eiffel Tower is located in the city of" → Paris is the one candidate the edit is about.
        let eiffel = try #require(KnowledgeProbe.general.candidates.firstIndex { $0.subject == "The Eiffel Tower" })
        #expect(knowledge.excluded == (baseline.known.contains(eiffel) ? 1 : 0))
        let (checked, _) = baseline.checked(editsInForce: try repository.facts(inLineageOf: head).map(EditRequest.init))
        let loaded = try VersionLoader.load(repository: repository, revision: head, session: session)
        let answered = try KnowledgeProbe.general.answered(checked, model: loaded.model, tokenizer: loaded.tokenizer)
        #expect(knowledge.checked == checked.count && knowledge.top1 == answered.filter { $0 }.count)
        #expect(try #require(knowledge.accuracy) >= 0.9, "one edit cost more than a tenth of what the model knew: \(knowledge.text)")
        print("knowledge probe: SmolLM2 after moving the Eiffel Tower to Rome: \(knowledge.text)")
    }

    @Test("log --health --json from the binary carries each commit's health with its knowledge figures")
    func logJSON() throws {
        let history = try HealthHistory()
        defer { CLIHarness.cleanUp(history.directory) }
        let outcome = try CLIHarness.runBinary(["log", "--health", "--json"], in: history.directory)
        try #require(outcome.status == 0, "log failed: \(outcome.stderr)")
        let commits = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [[String: Any]])
        #expect(commits.map { $0["id"] as? String } == [history.c.id, history.b.id, history.a.id])
        for commit in commits {
            let health = try #require(commit["health"] as? [String: Any], "no health in \(commit)")
            #expect(health["perplexity"] is Double)
            let knowledge = try #require(health["knowledge"] as? [String: Any])
            // The fixture model knows none of the shipped general-knowledge candidates.
            #expect(knowledge["candidates"] as? Int == KnowledgeProbe.general.candidates.count)
            #expect(knowledge["base_known"] as? Int == 0 && knowledge["accuracy"] is NSNull)
            #expect(knowledge["candidates_sha256"] as? String == HealthCheck.knowledgeDigest(.general))
        }
        let plain = try CLIHarness.runBinary(["log", "--json"], in: history.directory)
        let bare = try #require(try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [[String: Any]])
        #expect(bare.count == 3 && bare.allSatisfy { $0["health"] == nil })
    }
}
