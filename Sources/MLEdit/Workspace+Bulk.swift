// Bulk commits: a large facts file committed as a series of commits of a fixed number of facts,
// each on the one before. Rerunning the same call continues where an interrupted one stopped: a
// batch counts as done when a commit in the lineage of HEAD recorded facts of that batch and no
// others, so batches already in the history are passed over, whatever their ids.
import Foundation
import Ledger
import Solvers

/// What one batch of a bulk commit came to.
public enum BatchOutcome {
    /// The batch was committed now.
    case committed(CommitOutcome, evaluation: EvaluationReport?)
    /// An earlier run committed the batch already, as this commit.
    case alreadyCommitted(CommitRecord)
}

extension Workspace {
    /// Commits `facts` in batches of `batchSize`, in order, each batch with `options` (its message
    /// suffixed with "[batch i/n]"). With `evaluateEvery` K, after each batch that completes a
    /// multiple of K facts the CounterFact metrics of all facts of the batches so far are measured
    /// at the new commit and stored with it (dataset digest: `datasetDigest(factsDigest:count:)`).
    /// `factsDigest` names the facts file in that digest.
    /// - Throws: as `commit`; `MLEditError(.invalidInput)` for a batch size or K below 1.
    public func commit(facts: [EditRequest], batchSize: Int, evaluateEvery: Int? = nil, factsFile: String = "facts",
                       factsDigest: String = "", options: CommitOptions = CommitOptions(),
                       batchDone: (Int, Int, BatchOutcome) -> Void = { _, _, _ in }) throws -> [BatchOutcome] {
        guard batchSize >= 1 else { throw MLEditError(.invalidInput, "--batch-size must be at least 1, not \(batchSize)") }
        if let evaluateEvery, evaluateEvery < 1 {
            throw MLEditError(.invalidInput, "--eval-every must be at least 1, not \(evaluateEvery)")
        }
        let batches = stride(from: 0, to: facts.count, by: batchSize).map { Array(facts[$0..<min($0 + batchSize, facts.count)]) }
        let bar = session.progress("batches", batches.count)
        defer { bar.finish() }
        let history = try committedFacts()
        var outcomes: [BatchOutcome] = []
        for (index, batch) in batches.enumerated() {
            let wanted = Set(batch.map(\.ledgerFact))
            if let done = history.first(where: { $0.facts.isSubset(of: wanted) })?.commit {
                outcomes.append(.alreadyCommitted(done))
            } else {
                var batchOptions = options
                batchOptions.message = (options.message ?? Self.defaultMessage(batch)) + " [batch \(index + 1)/\(batches.count)]"
                let outcome = try commit(facts: batch, factsFile: factsFile, options: batchOptions)
                let before = index * batchSize, after = before + batch.count
                var evaluation: EvaluationReport?
                if let every = evaluateEvery, after / every > before / every {
                    let report = try evaluate(Array(facts[..<after]), at: outcome.record.id)
                    var metrics = report.jsonObject(includeFacts: false)
                    metrics["facts_so_far"] = after
                    let data = try JSONSerialization.data(withJSONObject: metrics, options: [.sortedKeys])
                    try repository.putEvaluation(commit: outcome.record.id, datasetDigest: Self.datasetDigest(factsDigest: factsDigest, count: after),
                                                 metrics: try JSONValue(parsing: String(decoding: data, as: UTF8.self), field: "metrics"))
                    evaluation = report
                }
                outcomes.append(.committed(outcome, evaluation: evaluation))
            }
            batchDone(index, batches.count, outcomes[index])
            bar.update(index + 1)
        }
        return outcomes
    }

    /// The key a bulk commit's evaluation is stored under: the first `count` facts of the file
    /// whose SHA-256 is `factsDigest`.
    public static func datasetDigest(factsDigest: String, count: Int) -> String {
        SHA256.hash("bulk \(factsDigest) \(count)").hex
    }

    /// The edit commits of the lineage of HEAD that recorded facts, with their facts.
    private func committedFacts() throws -> [(commit: CommitRecord, facts: Set<Fact>)] {
        guard let headID = try repository.head().commitID else { return [] }
        return try repository.lineage(of: headID).filter { $0.kind == .edit }.compactMap { commit in
            let recorded = Set(try repository.facts(of: commit.id).map(\.fact))
            return recorded.isEmpty ? nil : (commit, recorded)
        }
    }
}
