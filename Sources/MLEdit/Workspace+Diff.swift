// `Workspace.diff`: what differs between two versions — the facts in force (added, removed,
// superseded, by subject and prompt), per edited tensor the Frobenius norm and rank of the weight
// difference (from the low-rank factors of the commits the two lineages do not share), and on
// request the greedy continuation of each affected fact's prompt under both. It never writes.
import Foundation
import Ledger
import Models
import Solvers
import Tensors

/// Two versions compared.
public struct VersionDiff {
    public var old: String
    public var new: String
    public var sameBaseModel: Bool
    public var facts: VersionDiff.FactChanges
    /// Empty when the versions are on different base models.
    public var tensors: [VersionDiff.TensorDifference]
    /// The affected facts' continuations, when asked for.
    public var behaviour: [VersionDiff.BehaviourChange]?
}

extension Workspace {
    /// Compares `old` and `new`; with `behaviourTokens`, runs the model for that many greedy
    /// tokens of each affected fact's prompt under both versions.
    public func diff(_ old: String, _ new: String, behaviourTokens: Int? = nil) throws -> VersionDiff {
        let old = try repository.resolve(old)
        let new = try repository.resolve(new)
        let facts = try VersionDiff.FactChanges(repository: repository, old: old, new: new)
        let sameBase = try repository.commit(old).baseModelID == repository.commit(new).baseModelID
        let tensors = sameBase ? try VersionDiff.tensorDifferences(repository: repository, old: old, new: new) : []
        let behaviour = try behaviourTokens.map {
            try VersionDiff.behaviourChanges(facts.affected, repository: repository, old: old, new: new, tokenCount: $0, session: session)
        }
        return VersionDiff(old: old, new: new, sameBaseModel: sameBase, facts: facts, tensors: tensors, behaviour: behaviour)
    }
}

extension VersionDiff {
    // MARK: Facts

    /// The facts in force at two versions, compared by subject and prompt.
    public struct FactChanges {
        public var added: [FactRecord] = []
        public var removed: [FactRecord] = []
        /// (at the old version, at the new version).
        public var superseded: [(FactRecord, FactRecord)] = []

        init(repository: Repository, old: String, new: String) throws {
            let before = try repository.facts(inLineageOf: old)
            let after = try repository.facts(inLineageOf: new)
            let beforeByKey = Dictionary(before.map { ($0.fact.identity, $0) }, uniquingKeysWith: { _, last in last })
            let afterKeys = Set(after.map(\.fact.identity))
            for record in after {
                if let previous = beforeByKey[record.fact.identity] {
                    if previous.reference != record.reference || previous.fact != record.fact {
                        superseded.append((previous, record))
                    }
                } else {
                    added.append(record)
                }
            }
            removed = before.filter { !afterKeys.contains($0.fact.identity) }
        }

        /// The facts whose prompts behave differently, one per subject and prompt.
        public var affected: [Fact] { removed.map(\.fact) + added.map(\.fact) + superseded.map(\.1.fact) }


    }

    // MARK: Weights

    public struct TensorDifference {
        public var tensor: String
        public var layer: Int
        public var difference: LowRankDifference
        public var commitsAdded: [String]
        public var commitsRemoved: [String]

    }

    /// Per tensor edited in either lineage by a commit the other lineage lacks: new − old weights.
    static func tensorDifferences(repository: Repository, old: String, new: String) throws -> [TensorDifference] {
        let oldDeltas = try repository.lineageDeltas(at: old)
        let newDeltas = try repository.lineageDeltas(at: new)
        let oldCommits = Set(try repository.lineage(of: old).map(\.id))
        let newCommits = Set(try repository.lineage(of: new).map(\.id))
        var out: [TensorDifference] = []
        for tensor in Set(oldDeltas.keys).union(newDeltas.keys) {
            let added = (newDeltas[tensor] ?? []).filter { !oldCommits.contains($0.commitID) }
            let removed = (oldDeltas[tensor] ?? []).filter { !newCommits.contains($0.commitID) }
            guard let layer = (added + removed).first?.layer else { continue }
            func factors(_ records: [DeltaRecord]) throws -> [(u: Matrix<Float>, v: Matrix<Float>)] {
                try records.map { record in
                    let delta = try repository.decodeDelta(commit: record.commitID, tensor: tensor)
                    return (delta.u, delta.v)
                }
            }
            let difference: LowRankDifference
            do {
                difference = try LowRankDifference(added: try factors(added), removed: try factors(removed))
            } catch let error as SolverError {
                throw MLEditError(.damaged, "tensor \(tensor): \(error)")
            }
            out.append(TensorDifference(tensor: tensor, layer: layer, difference: difference,
                                        commitsAdded: added.map(\.commitID), commitsRemoved: removed.map(\.commitID)))
        }
        return out.sorted { ($0.layer, $0.tensor) < ($1.layer, $1.tensor) }
    }

    // MARK: Behaviour

    public struct BehaviourChange {
        public var prompt: String
        public var oldIDs: [Int]
        public var newIDs: [Int]
        public var oldText: String
        public var newText: String
        public var changed: Bool { oldIDs != newIDs }

    }

    /// Greedy continuations of the affected facts' prompts under both versions (one model load when
    /// the versions share their base model: the model moves from one version to the other).
    static func behaviourChanges(_ facts: [Fact], repository: Repository, old: String, new: String,
                                 tokenCount: Int, session: Session) throws -> [BehaviourChange] {
        if facts.isEmpty { return [] }
        let prompts = facts.map(\.filledPrompt)
        func continuations(_ context: EditContext) throws -> [[Int]] {
            let length = context.model.configuration.contextLength
            let ids = try prompts.map { text in
                let ids = FactTokenization.text(text, tokenizer: context.tokenizer)
                guard !ids.isEmpty, ids.count <= length else {
                    throw MLEditError(.invalidInput, "prompt \(text.debugDescription) has \(ids.count) tokens; the model's context holds \(length)")
                }
                return ids
            }
            return EvaluationScorer().greedyContinuations(model: context.model, prompts: ids, tokenCount: tokenCount,
                                                          stopTokenID: context.model.eosTokenID)
        }
        var context = try EditContext.load(repository: repository, parentID: old, session: session)
        let before = try continuations(context)
        let oldTokenizer = context.tokenizer
        if try repository.commit(old).baseModelID == repository.commit(new).baseModelID {
            try context.moveTo(new)
        } else {
            context = try EditContext.load(repository: repository, parentID: new, session: session)
        }
        let after = try continuations(context)
        return prompts.indices.map { i in
            BehaviourChange(prompt: prompts[i], oldIDs: before[i], newIDs: after[i],
                            oldText: oldTokenizer.decode(before[i]), newText: context.tokenizer.decode(after[i]))
        }
    }
}
