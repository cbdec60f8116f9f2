// The general-knowledge part of the health check: which candidates of the knowledge probe the
// unedited base model of a lineage answers (measured once, stored in the evaluations table under
// the lineage's root commit and the digest of the candidate list), and which of them a version is
// checked on (a fixed sample when the base knows many, minus those an edit in force is about).
// The per-version top-1 test itself runs in `HealthCheck.measure`, batched with the fact checks.
import Foundation
import Ledger
import Solvers

/// The candidates of a knowledge probe the base model of one lineage answers top-1.
package struct KnowledgeBaseline: Equatable {
    package var probe: KnowledgeProbe
    /// Indices into `probe.candidates`, ascending.
    package var known: [Int]

    /// The candidates a version is checked on: `known`, or `HealthCheck.knowledgeSampleSize` of
    /// them evenly spaced when there are more (the same ones for every version of the lineage),
    /// without those `edits` touch; and how many of all of `known` the edits touch.
    package func checked(editsInForce edits: [EditRequest]) -> (indices: [Int], excluded: Int) {
        let touched = probe.touched(by: edits, among: known)
        let sample = known.evenlySpacedSample(HealthCheck.knowledgeSampleSize)
        return (sample.filter { !touched.contains($0) }, touched.count)
    }

    var json: JSONValue {
        .object([
            "what": .string("candidates of the general-knowledge probe the base model answers top-1"),
            "candidates": .integer(Int64(probe.candidates.count)),
            "known": .array(known.map { .integer(Int64($0)) }),
        ])
    }

    /// Reads a stored set.
    /// - Throws: `MLEditError` naming the root commit when the row does not fit `probe`.
    init(json: JSONValue, probe: KnowledgeProbe, rootID: String) throws {
        let problem = MLEditError(.damaged, "stored base knowledge of root commit \(rootID.prefix(10)) does not fit the \(probe.candidates.count) candidates")
        guard json["candidates"]?.doubleValue == Double(probe.candidates.count), let items = json["known"]?.arrayValue else { throw problem }
        var known: [Int] = []
        for item in items {
            guard let value = item.doubleValue, value >= 0, value == value.rounded(), value < Double(probe.candidates.count),
                  known.last.map({ Double($0) < value }) ?? true else { throw problem }
            known.append(Int(value))
        }
        self.init(probe: probe, known: known)
    }

    package init(probe: KnowledgeProbe, known: [Int]) {
        self.probe = probe
        self.known = known
    }
}

extension HealthCheck {
    /// At most this many base-known candidates are checked per version, so that the check costs
    /// the same for any candidate list.
    package static let knowledgeSampleSize = 256

    /// The evaluations-table digest a base-known set of `probe` is stored under.
    package static func knowledgeDigest(_ probe: KnowledgeProbe) -> String {
        SHA256.hash("mledit knowledge probe\n" + probe.canonicalText).hex
    }

    /// The stored base-known set of the lineage rooted at `rootID`, if measured.
    /// - Throws: ledger errors, `MLEditError` for a row that does not fit `probe`.
    package static func storedKnowledgeBaseline(root rootID: String, probe: KnowledgeProbe,
                                                repository: Repository) throws -> KnowledgeBaseline? {
        guard let record = try repository.evaluation(commit: rootID, datasetDigest: knowledgeDigest(probe)) else { return nil }
        return try KnowledgeBaseline(json: record.metrics, probe: probe, rootID: rootID)
    }

    /// The root commit of the lineage of `commitID`, remembering the root of every commit passed
    /// on the way in `memo` (so that many commits of one history cost one walk).
    /// - Throws: `LedgerError.commitNotFound`.
    package static func rootID(of commitID: String, repository: Repository, memo: inout [String: String]) throws -> String {
        var path: [String] = []
        var current = commitID
        while memo[current] == nil, let parent = try repository.commit(current).parentID {
            path.append(current)
            current = parent
        }
        let root = memo[current] ?? current
        for id in path + [current] { memo[id] = root }
        return root
    }

    /// The base-known set of the lineage rooted at `rootID`: read back, or measured on the base
    /// model and stored under the root. Measuring moves `context` to the base model and leaves
    /// it there; callers move it where they need it next.
    /// - Throws: ledger errors, `SolverError` for a candidate that does not tokenize.
    package static func knowledgeBaseline(root rootID: String, probe: KnowledgeProbe,
                                          context: inout EditContext) throws -> KnowledgeBaseline {
        let repository = context.repository
        if let stored = try storedKnowledgeBaseline(root: rootID, probe: probe, repository: repository) { return stored }
        try context.moveTo(nil)
        let baseline = KnowledgeBaseline(probe: probe, known: try probe.known(model: context.model, tokenizer: context.tokenizer))
        try repository.putEvaluation(commit: rootID, datasetDigest: knowledgeDigest(probe), metrics: baseline.json)
        return baseline
    }

    /// Whether stored metrics carry the knowledge figures of `probe` (rows written before the
    /// knowledge probe, or for another candidate list, are measured again).
    package static func hasKnowledge(_ metrics: HealthMetrics, of probe: KnowledgeProbe) -> Bool {
        metrics.knowledge?.candidatesDigest == knowledgeDigest(probe)
    }
}
