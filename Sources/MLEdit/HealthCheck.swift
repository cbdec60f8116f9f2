// Measuring and storing the health of versions (HealthMetrics), lazily: stored metrics are read
// back, missing ones are computed on a model moved from version to version (EditContext) and
// stored in the ledger's evaluations table under the SHA-256 of the probe text (the knowledge
// probe's base-known sets beside them, HealthCheck+Knowledge). Also the pieces
// `mledit commit` and `mledit log --health` call: the commit-time check with its warnings, the
// options, and the log lines. Not here: the HTML report (HealthReportPage).
import Foundation
import Ledger
import Models
import Solvers

package enum HealthCheck {
    /// The evaluations-table digest health metrics are stored under.
    package static let datasetDigest = SHA256.hash(HealthProbe.text).hex

    // MARK: - Stored metrics

    package static func stored(_ commitID: String, repository: Repository) throws -> HealthMetrics? {
        guard let record = try repository.evaluation(commit: commitID, datasetDigest: datasetDigest) else { return nil }
        return try HealthMetrics(json: record.metrics, commitID: commitID)
    }

    package static func store(_ metrics: HealthMetrics, commitID: String, repository: Repository) throws {
        try repository.putEvaluation(commit: commitID, datasetDigest: datasetDigest, metrics: metrics.json)
    }

    // MARK: - Measuring

    /// The metrics of `commitID` on `model`, which must carry exactly that version's weights;
    /// `knowledge` is the base-known set of its lineage.
    /// - Throws: ledger errors, `SolverError` for a fact that does not tokenize.
    package static func measure(commitID: String, repository: Repository, model: any TransformerModel, tokenizer: Tokenizer,
                        basePerplexity: Double? = nil, knowledge: KnowledgeBaseline) throws -> HealthMetrics {
        let perplexity = HealthProbe.perplexity(model: model, tokenizer: tokenizer)
        var norms: [String: Double] = [:]
        for (tensor, entry) in try repository.lineageDecodedDeltas(at: commitID) {
            guard let sum = try Materializer.combined(entry.deltas, tensor: tensor) else { norms[tensor] = 0; continue }
            norms[tensor] = HealthProbe.frobeniusNorm(u: sum.u, v: sum.v)
        }
        let facts = try repository.facts(inLineageOf: commitID)
        let own = facts.filter { $0.commitID == commitID }, earlier = facts.filter { $0.commitID != commitID }
        let checked = retentionSample(earlier)
        let probe = knowledge.probe
        let (candidates, excluded) = knowledge.checked(editsInForce: facts.map(EditRequest.init))
        // One batch for the edited facts and the knowledge candidates: prompts shared between
        // them are run once.
        let requests = (own + checked).map(EditRequest.init) + candidates.map { probe.candidates[$0].request }
        let top1 = try HealthProbe.topOne(model: model, tokenizer: tokenizer, facts: requests)
        let factsTop1 = top1.prefix(own.count + checked.count)
        let accuracy = KnowledgeAccuracy(candidatesDigest: knowledgeDigest(probe), candidates: probe.candidates.count,
                                         baseKnown: knowledge.known.count, excluded: excluded, checked: candidates.count,
                                         top1: top1.dropFirst(own.count + checked.count).filter { $0 }.count)
        return HealthMetrics(perplexity: perplexity.value, probeTokens: perplexity.predictedTokens, basePerplexity: basePerplexity,
                             deltaNorms: norms, commitFacts: own.count, commitFactsTop1: factsTop1.prefix(own.count).filter { $0 }.count,
                             earlierFacts: checked.count, earlierFactsTop1: factsTop1.dropFirst(own.count).filter { $0 }.count,
                             earlierFactsInForce: earlier.count, knowledge: accuracy)
    }

    /// At most this many earlier facts are checked for retention, so that measuring a version
    /// costs the same at any history length.
    package static let retentionSampleSize = 256

    /// `earlier` itself, or `retentionSampleSize` of its facts evenly spaced over the history
    /// (oldest to newest): the same facts for the same history.
    package static func retentionSample(_ earlier: [FactRecord]) -> [FactRecord] {
        earlier.evenlySpacedSample(retentionSampleSize)
    }

    /// The metrics of every commit in `commitIDs`: stored ones read back, the others (and stored
    /// ones without the knowledge figures of `knowledgeProbe`) measured — one model load per base
    /// model, moved from version to version — and stored.
    /// - Throws: ledger errors, base-model errors, `SolverError`.
    package static func metrics(of commitIDs: [String], repository: Repository, session: Session,
                                knowledgeProbe: KnowledgeProbe = .general) throws -> [String: HealthMetrics] {
        var out: [String: HealthMetrics] = [:]
        var missing: [CommitRecord] = []
        var queued = Set<String>()
        for id in commitIDs where out[id] == nil && !queued.contains(id) {
            if let metrics = try stored(id, repository: repository), hasKnowledge(metrics, of: knowledgeProbe) {
                out[id] = metrics
            } else {
                missing.append(try repository.commit(id))
                queued.insert(id)
            }
        }
        if missing.isEmpty { return out }
        // Parents before children, so that moving between versions changes few tensors.
        missing.sort { $0.createdAt == $1.createdAt ? $0.id < $1.id : $0.createdAt < $1.createdAt }
        let groups = Dictionary(grouping: missing, by: \.baseModelID)
        session.note("health: measuring \(missing.count) commit\(missing.count == 1 ? "" : "s") (stored for next time)")
        for baseModelID in groups.keys.sorted() {
            let record = try repository.baseModel(id: baseModelID)
            var context = try EditContext.load(repository: repository, parentID: nil, baseModel: record, session: session)
            var basePerplexity: Double?
            var baselines: [String: KnowledgeBaseline] = [:]  // by root commit
            var roots: [String: String] = [:]
            for commit in groups[baseModelID] ?? [] {
                if commit.parentID == nil && basePerplexity == nil {
                    try context.moveTo(nil)
                    basePerplexity = HealthProbe.perplexity(model: context.model, tokenizer: context.tokenizer).value
                }
                let rootID = try self.rootID(of: commit.id, repository: repository, memo: &roots)
                let knowledge = try baselines[rootID] ?? knowledgeBaseline(root: rootID, probe: knowledgeProbe, context: &context)
                baselines[rootID] = knowledge
                try context.moveTo(commit.id)
                let metrics = try measure(commitID: commit.id, repository: repository, model: context.model, tokenizer: context.tokenizer,
                                          basePerplexity: commit.parentID == nil ? basePerplexity : nil, knowledge: knowledge)
                try store(metrics, commitID: commit.id, repository: repository)
                out[commit.id] = metrics
            }
        }
        return out
    }

    // MARK: - mledit commit

    /// Measures the new commit right after it was written, on the commit's own model: `context`
    /// stands on the parent (as after `EditPlanner.computeEdit`), is measured there first when the
    /// parent has no stored metrics, then moved to `commitID`. Prints a warning on standard error
    /// for each limit exceeded and returns the warnings. A failure of the measurement is reported
    /// as a warning too: the commit is already written.
    @discardableResult
    package static func afterCommit(context: inout EditContext, commitID: String, limits: HealthLimits?, session: Session,
                                    knowledgeProbe: KnowledgeProbe = .general) -> [String] {
        guard let limits else { return [] }
        do {
            let repository = context.repository
            let record = try repository.commit(commitID)
            var parentMetrics: HealthMetrics?
            var basePerplexity: Double?
            // Measured on the base model the first time a lineage is checked (then stored).
            var roots: [String: String] = [:]
            let rootID = try self.rootID(of: commitID, repository: repository, memo: &roots)
            let knowledge = try knowledgeBaseline(root: rootID, probe: knowledgeProbe, context: &context)
            if context.parentID != record.parentID { try context.moveTo(record.parentID) }
            if let parentID = record.parentID {
                parentMetrics = try stored(parentID, repository: repository)
                // A parent row stored before the knowledge probe is good enough for the warnings;
                // `log --health` and `report` measure it again.
                if parentMetrics == nil {
                    let measured = try measure(commitID: parentID, repository: repository, model: context.model, tokenizer: context.tokenizer,
                                               knowledge: knowledge)
                    try store(measured, commitID: parentID, repository: repository)
                    parentMetrics = measured
                }
            } else {
                basePerplexity = HealthProbe.perplexity(model: context.model, tokenizer: context.tokenizer).value
            }
            try context.moveTo(commitID)
            let metrics = try measure(commitID: commitID, repository: repository, model: context.model, tokenizer: context.tokenizer,
                                      basePerplexity: basePerplexity, knowledge: knowledge)
            try store(metrics, commitID: commitID, repository: repository)
            let warnings = limits.warnings(metrics, parent: parentMetrics)
            for warning in warnings { session.note(warning) }
            return warnings
        } catch {
            let warning = "warning: the health of commit \(commitID.prefix(10)) was not measured: \(MLEditError.oneLine(error))"
            session.note(warning)
            return [warning]
        }
    }
}
