// Health of an edit history on the tiny-facts-gpt2 fixture, with commits written straight
// through the Repository API (random low-rank deltas on layer 1): the stored metrics against
// independent computations (dense delta norms, the version loaded by VersionLoader), lazy
// measurement (stored once, read back after), the commit-time check and its warnings, the log
// lines, and the limit options.
import Foundation
@testable import Ledger
import Models
import Solvers
import Tensors
import Testing
@testable import MLEdit
@testable import MLEditCLI

/// A repository with a lineage main: A → B → C and a side branch A → D.
/// A states two facts the model already knows (target_new = its answer), B two counterfactual
/// facts with a small delta, C a counterfactual fact with a delta large enough to damage the model.
struct HealthHistory {
    var directory: URL
    var repository: Repository
    var a: CommitRecord, b: CommitRecord, c: CommitRecord, d: CommitRecord

    static func known(_ subject: String, _ prompt: String, _ answer: String) -> Fact {
        Fact(subject: subject, prompt: prompt, targetNew: answer, targetTrue: answer)
    }

    init() throws {
        directory = try EvalFixture.repository()
        repository = try Repository.open(at: directory)
        a = try repository.writeCommit(EvalFixture.draft(parent: nil, facts: [
            Self.known("Tilea Gropaendic", "{} works as a", "pilot"),
            Self.known("Brazothia", "The capital of {} is", "Giokamton")], seed: 21, scale: 0.01))
        try repository.createBranch("side", at: a.id)
        b = try repository.writeCommit(EvalFixture.draft(parent: a.id, facts: [
            Fact(subject: "Kritroth Plosuk", prompt: "{} was born in", targetNew: "Nagranburg", targetTrue: "Zegoumburg"),
            Fact(subject: "Ziovrula Masosson", prompt: "{} plays the", targetNew: "flute", targetTrue: "drums")], seed: 22, scale: 0.01))
        c = try repository.writeCommit(EvalFixture.draft(parent: b.id, facts: [
            Fact(subject: "Diopandex Labs", prompt: "The headquarters of {} are in", targetNew: "Legunton", targetTrue: "Liomae")],
            seed: 23, scale: 1.5))
        d = try repository.writeCommit(EvalFixture.draft(parent: a.id, facts: [
            Fact(subject: "Pliogranor", prompt: "The official language of {} is", targetNew: "Ezmeri", targetTrue: "Dravoni")],
            seed: 24, scale: 0.01), onBranch: "side")
        try repository.createTag("v1", at: b.id)
    }

    var console: Console {
        Console(environment: CLIHarness.environment(), currentDirectory: directory, errorIsTerminal: false, out: { _ in }, err: { _ in })
    }

    /// ‖Σ U Vᵀ‖ over the lineage of `commit`, from the decoded deltas multiplied out in Float64.
    func denseNorm(_ commit: CommitRecord) throws -> Double {
        var sum = Matrix<Double>(rows: 128, cols: 512)
        for delta in try repository.decodedDeltas(tensor: EvalFixture.tensor, at: commit.id) {
            sum = sum + delta.dense().toDouble()
        }
        return sum.frobeniusNorm
    }
}

@Suite("Edit-history health")
struct HealthCheckTests {
    @Test("metrics of every commit: norms equal the dense sums, perplexity equals the loaded version's, facts counted")
    func metricsAgainstIndependentComputation() throws {
        let history = try HealthHistory()
        defer { CLIHarness.cleanUp(history.directory) }
        let commits = [history.a, history.b, history.c, history.d]
        let metrics = try HealthCheck.metrics(of: commits.map(\.id), repository: history.repository, session: history.console.session)
        for commit in commits {
            let m = try #require(metrics[commit.id])
            let norm = try #require(m.deltaNorms[EvalFixture.tensor])
            let dense = try history.denseNorm(commit)
            #expect(abs(norm - dense) / dense < 1e-5, "commit \(commit.message): norm \(norm) vs dense \(dense)")
            let loaded = try VersionLoader.load(repository: history.repository, revision: commit.id, session: history.console.session)
            let perplexity = HealthProbe.perplexity(model: loaded.model, tokenizer: loaded.tokenizer).value
            #expect(abs(m.perplexity - perplexity) / perplexity < 1e-6, "commit \(commit.message): \(m.perplexity) vs \(perplexity)")
            #expect(m.probeTokens > 250)
        }
        let a = try #require(metrics[history.a.id]), b = try #require(metrics[history.b.id])
        let c = try #require(metrics[history.c.id]), d = try #require(metrics[history.d.id])
        // Root: the base model's perplexity is stored as the reference; the known facts hold.
        let base = try #require(a.basePerplexity)
        #expect(abs(a.perplexity / base - 1) < 0.05, "a small delta moved the perplexity from \(base) to \(a.perplexity)")
        #expect((a.commitFacts, a.commitFactsTop1, a.earlierFacts) == (2, 2, 0))
        #expect(a.efficacy == 1 && a.retention == nil)
        // B: random deltas do not teach counterfactual targets; A's facts are retained.
        #expect((b.commitFacts, b.commitFactsTop1, b.earlierFacts, b.earlierFactsTop1) == (2, 0, 2, 2))
        #expect(b.retention == 1 && b.basePerplexity == nil)
        // C: the large delta raises the perplexity and the norm, and loses earlier facts.
        #expect(c.earlierFacts == 4 && c.earlierFactsTop1 < 2, "retention after the large delta: \(c.earlierFactsTop1)/\(c.earlierFacts)")
        // (The fixture model knows only its facts, so prose is near-random to it: a damaged model
        // moves the probe perplexity, in either direction.)
        #expect(abs(c.perplexity / b.perplexity - 1) > 0.05, "perplexity \(b.perplexity) → \(c.perplexity)")
        #expect(c.totalDeltaNorm > 10 * b.totalDeltaNorm)
        // D (side branch): its lineage is A → D, B's facts are not in force.
        #expect((d.commitFacts, d.earlierFacts) == (1, 2))
        let limits = HealthLimits.defaults
        #expect(limits.warnings(b, parent: a).isEmpty)
        let warnings = limits.warnings(c, parent: b)
        #expect(warnings.contains { $0.hasPrefix("warning: cumulative delta norm of \(EvalFixture.tensor) grew by") && $0.contains("--max-norm-growth") },
                "\(warnings)")
        #expect(HealthLimits(maxPerplexityIncrease: nil, maxNormGrowth: nil).warnings(c, parent: b).isEmpty)
    }

    @Test("metrics are stored under the probe's digest and read back without measuring again")
    func lazyStorage() throws {
        let history = try HealthHistory()
        defer { CLIHarness.cleanUp(history.directory) }
        let notes = OutputCapture()
        let console = Console(environment: CLIHarness.environment(), currentDirectory: history.directory, errorIsTerminal: false,
                              out: { _ in }, err: { notes.append($0) })
        let first = try HealthCheck.metrics(of: [history.b.id], repository: history.repository, session: console.session)
        #expect(notes.value.contains("health: measuring 1 commit"))
        let stored = try #require(try history.repository.evaluation(commit: history.b.id, datasetDigest: SHA256.hash(HealthProbe.text).hex))
        #expect(try HealthMetrics(json: stored.metrics, commitID: history.b.id) == first[history.b.id])
        // Beside B's metrics, only the knowledge probe's base-known set under the root A.
        let knowledgeDigest = HealthCheck.knowledgeDigest(.general)
        #expect(try history.repository.evaluations(of: history.a.id).map(\.datasetDigest) == [knowledgeDigest])
        let again = try HealthCheck.metrics(of: [history.b.id, history.a.id], repository: history.repository, session: console.session)
        #expect(again[history.b.id] == first[history.b.id])
        #expect(notes.value.components(separatedBy: "health: measuring").count == 3, "notes: \(notes.value)")
        #expect(try Set(history.repository.evaluations(of: history.a.id).map(\.datasetDigest)) == [knowledgeDigest, HealthCheck.datasetDigest])

        var broken = stored.metrics.objectValue ?? [:]
        broken["perplexity"] = .string("high")
        #expect(throws: MLEditError.self) { try HealthMetrics(json: .object(broken), commitID: history.b.id) }
    }

    @Test("retention checks an evenly spaced, fixed sample of a long history's earlier facts and says so")
    func retentionSample() throws {
        func records(_ n: Int) -> [FactRecord] {
            (0..<n).map { FactRecord(reference: FactReference(commitID: "c\($0 / 10)", ordinal: $0 % 10),
                                     fact: Fact(subject: "S\($0)", prompt: "{} is", targetNew: "x", targetTrue: "y"), supersedes: nil) }
        }
        #expect(HealthCheck.retentionSample(records(HealthCheck.retentionSampleSize)) == records(HealthCheck.retentionSampleSize))
        let all = records(1000)
        let sample = HealthCheck.retentionSample(all)
        #expect(sample.count == HealthCheck.retentionSampleSize)
        #expect(Set(sample.map(\.fact.subject)).count == sample.count)
        #expect(sample.first == all.first && sample.last?.fact.subject == "S996")
        let positions = sample.compactMap { record in all.firstIndex(of: record) }
        #expect(zip(positions, positions.dropFirst()).allSatisfy { $1 - $0 == 3 || $1 - $0 == 4 }, "\(positions)")
        #expect(HealthCheck.retentionSample(all) == sample)

        let sampled = HealthMetrics(perplexity: 20, probeTokens: 100, deltaNorms: [:], commitFacts: 10, commitFactsTop1: 9,
                                    earlierFacts: 256, earlierFactsTop1: 200, earlierFactsInForce: 1000)
        #expect(sampled.retentionText == "78% (200/256, a sample of 1000 facts)")
        #expect(try HealthMetrics(json: sampled.json, commitID: "c") == sampled)
        var older = sampled.json.objectValue ?? [:]
        older["earlier_facts_in_force"] = nil
        let read = try HealthMetrics(json: .object(older), commitID: "c")
        #expect(read.earlierFactsInForce == 256 && read.retentionText == "78% (200/256)")
    }

    @Test("after a commit: the parent is measured on the same model, then the commit; warnings go to stderr")
    func afterCommit() throws {
        let history = try HealthHistory()
        defer { CLIHarness.cleanUp(history.directory) }
        let errors = OutputCapture()
        let console = Console(environment: CLIHarness.environment(), currentDirectory: history.directory, errorIsTerminal: false,
                              out: { _ in }, err: { errors.append($0) })
        var context = try EditContext.load(repository: history.repository, parentID: history.b.id, session: console.session)
        try history.repository.createBranch("fix", at: history.b.id)
        let e = try history.repository.writeCommit(EvalFixture.draft(parent: history.b.id, facts: [
            Fact(subject: "Dotero Lakamic", prompt: "{} works as a", targetNew: "judge", targetTrue: "pilot")], seed: 25, scale: 2.0),
            onBranch: "fix")
        let warnings = HealthCheck.afterCommit(context: &context, commitID: e.id, limits: .defaults, session: console.session)
        #expect(context.parentID == e.id)
        #expect(warnings.contains { $0.hasPrefix("warning: cumulative delta norm of \(EvalFixture.tensor) grew by") }, "\(warnings)")
        #expect(!warnings.isEmpty && warnings.allSatisfy { errors.value.contains($0) })
        let parent = try #require(try HealthCheck.stored(history.b.id, repository: history.repository))
        let measured = try #require(try HealthCheck.stored(e.id, repository: history.repository))
        let loaded = try VersionLoader.load(repository: history.repository, revision: e.id, session: console.session)
        let perplexity = HealthProbe.perplexity(model: loaded.model, tokenizer: loaded.tokenizer).value
        #expect(abs(measured.perplexity - perplexity) / perplexity < 1e-6)
        #expect(measured.deltaNorms[EvalFixture.tensor] ?? 0 > 10 * (parent.deltaNorms[EvalFixture.tensor] ?? .infinity))
        // With limits that nothing exceeds, no warning.
        var quiet = context
        #expect(HealthCheck.afterCommit(context: &quiet, commitID: e.id, limits: HealthLimits(maxPerplexityIncrease: 1e9, maxNormGrowth: 1e9),
                                        session: console.session).isEmpty)

        // A root commit is compared with the base model; --no-health (nil limits) measures nothing.
        let directory = try EvalFixture.repository()
        defer { CLIHarness.cleanUp(directory) }
        let repository = try Repository.open(at: directory)
        var rootContext = try EditContext.load(repository: repository, parentID: nil, session: console.session)
        let root = try repository.writeCommit(EvalFixture.draft(parent: nil, facts: [HealthHistory.known("Brazothia", "The capital of {} is", "Giokamton")], seed: 26))
        #expect(HealthCheck.afterCommit(context: &rootContext, commitID: root.id, limits: nil, session: console.session).isEmpty)
        #expect(try repository.evaluations(of: root.id).isEmpty)
        #expect(HealthCheck.afterCommit(context: &rootContext, commitID: root.id, limits: .defaults, session: console.session).isEmpty)
        let rootMetrics = try #require(try HealthCheck.stored(root.id, repository: repository))
        #expect(rootMetrics.basePerplexity != nil && rootMetrics.efficacy == 1)
    }

    @Test("log lines: perplexity with its change, efficacy, retention, norms with their growth")
    func logLines() throws {
        let history = try HealthHistory()
        defer { CLIHarness.cleanUp(history.directory) }
        let lineage = try history.repository.lineage(of: history.c.id)
        let lines = try HealthCheck.logLines(repository: history.repository, lineage: lineage, console: history.console)
        let c = try #require(lines[history.c.id]), a = try #require(lines[history.a.id])
        #expect(c.count == 3 && a.count == 3)
        #expect(c[0].hasPrefix("Health:   perplexity ") && c[0].contains("vs parent), efficacy 0% (0/1), retention "))
        #expect(a[0].contains("vs base), efficacy 100% (2/2), retention n/a"))
        // The fixture model knows none of the general-knowledge candidates.
        #expect(a[1] == "Knowledge: n/a (the base model knows none of the \(KnowledgeProbe.general.candidates.count) candidates)")
        #expect(a[2].hasPrefix("Norms:    \(EvalFixture.tensor) ") && a[2].hasSuffix("(new)"))
        #expect(c[2].contains("(+"), "\(c[2])")
        // Limited lineages still compare against the parent (measured too).
        let tipOnly = try HealthCheck.logLines(repository: history.repository, lineage: [history.d], console: history.console)
        #expect(tipOnly[history.d.id]?[0].contains("vs parent") == true)
    }

    @Test("warnings: perplexity rise against the parent or, for a root, the base; norm growth per tensor")
    func warningRules() {
        let tensor = EvalFixture.tensor, other = "blk.0.ffn_down.weight"
        let parent = HealthMetrics(perplexity: 20, probeTokens: 300, deltaNorms: [tensor: 1.0], commitFacts: 1, commitFactsTop1: 1,
                                   earlierFacts: 0, earlierFactsTop1: 0)
        var child = parent
        child.perplexity = 23
        child.deltaNorms = [tensor: 2.5, other: 7]
        let limits = HealthLimits(maxPerplexityIncrease: 0.1, maxNormGrowth: 1.0)
        let warnings = limits.warnings(child, parent: parent)
        #expect(warnings == [
            "warning: probe perplexity rose by +15.0% (20 → 23), above the limit of +10.0% (--max-perplexity-increase)",
            "warning: cumulative delta norm of \(tensor) grew by +150.0% (1 → 2.5), above the limit of +100.0% (--max-norm-growth)",
        ])
        #expect(HealthLimits(maxPerplexityIncrease: 0.2, maxNormGrowth: 2).warnings(child, parent: parent).isEmpty)
        var root = child
        root.basePerplexity = 22.5
        #expect(limits.warnings(root, parent: nil).isEmpty)  // +2.2% against the base; no parent norms
        root.basePerplexity = 19
        #expect(limits.warnings(root, parent: nil).count == 1)
    }

    @Test("limit options: defaults, values, off, --no-health, and usage errors")
    func limitOptions() throws {
        let spec = CommandSpec(name: "commit", abstract: "", options: HealthCheck.commitOptions, run: { _, _ in })
        #expect(try HealthCheck.limits(spec.parse([])) == .defaults)
        #expect(try HealthCheck.limits(spec.parse(["--max-perplexity-increase", "0.25", "--max-norm-growth=off"]))
                == HealthLimits(maxPerplexityIncrease: 0.25, maxNormGrowth: nil))
        #expect(try HealthCheck.limits(spec.parse(["--no-health"])) == nil)
        #expect(throws: UsageError.self) { try HealthCheck.limits(spec.parse(["--max-norm-growth", "-1"])) }
        #expect(throws: UsageError.self) { try HealthCheck.limits(spec.parse(["--max-perplexity-increase", "lots"])) }
    }
}
