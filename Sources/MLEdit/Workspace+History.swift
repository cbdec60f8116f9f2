// Rewriting history through the solver: `revert` (a new commit taking an earlier edit out while
// the later commits' facts stay) and `rebase` (the branch's commits replayed onto another commit
// or another base model). Which commits are re-solved is the Ledger's rule (`Lineage.revertPlan`,
// `Lineage.commitsInForce`); the re-solving is HistoryReplay's.
import Foundation
import Ledger
import Models
import Solvers
import Tensors

/// How history is rewritten.
public struct HistoryOptions {
    /// The revert's message (nil: Revert "<message of the reverted commit>").
    public var message: String?
    /// nil: $MLEDIT_AUTHOR, else $USER.
    public var author: String?
    /// Corpus files for preservation statistics that are not cached.
    public var corpus: [String]?
    /// Seconds to wait for another writer.
    public var lockWait: TimeInterval = 180
    /// Check the new version's facts afterwards (ReplayVerification).
    public var verify = true

    public init() {}
}

/// What `revert` made.
public struct RevertOutcome {
    public var record: CommitRecord
    public var revertedID: String
    /// The commits re-solved on the weights without the reverted edit, oldest first.
    public var resolvedCommits: [String]
    /// The revert's deltas, by layer.
    public var deltas: [DeltaInput]
    /// The branch or detached HEAD the revert was made on.
    public var head: HeadState
    /// How the facts stand at the new version (nil when not verified).
    public var verification: ReplayVerification?
    public var rank: Int { deltas.map { $0.u.cols }.reduce(0, +) }
}

/// What `rebase` did.
public enum RebaseOutcome {
    /// The upstream is already in the branch's history: nothing was replayed.
    case upToDate
    /// The branch now ends in the last of `commits` (source → replayed, oldest first); `onto`
    /// describes the upstream or the model file.
    case replayed(branch: String, oldHead: String, commits: [(source: CommitRecord, new: CommitRecord)], onto: String,
                  verification: ReplayVerification?)
}

extension Workspace {
    /// A new commit on HEAD that takes the edit of `revision` out, every later commit in force
    /// re-solved without it.
    /// - Throws: `MLEditError` (.conflict: nothing to revert, not in the history, already
    ///   reverted), solver, model and ledger errors.
    public func revert(_ revision: String, options: HistoryOptions = HistoryOptions()) throws -> RevertOutcome {
        try writing(wait: options.lockWait) {
            let head = try repository.head()
            guard let headID = head.commitID else { throw MLEditError(.conflict, "nothing to revert: the branch has no commits") }
            let targetID = try repository.resolve(revision)
            let lineage = try repository.lineage(of: headID)
            let plan: RevertPlan
            do {
                plan = try Lineage.revertPlan(lineage, reverting: targetID)
            } catch let error as LedgerError {
                switch error {
                case .notInHistory, .alreadyReverted: throw MLEditError(.conflict, error.description)
                default: throw error
                }
            }
            let byID = Dictionary(uniqueKeysWithValues: lineage.map { ($0.id, $0) })
            let target = byID[targetID]!
            var context = try EditContext.load(repository: repository, parentID: plan.replayParentID, session: session)
            let solved = try HistoryReplay.resolve(plan.replayed.compactMap { byID[$0] }, prior: plan.remembered.compactMap { byID[$0] },
                                                   context: &context, corpus: options.corpus, session: session)
            // Revert delta = (weights at the replay's parent + re-solved deltas) − current weights
            //              = Σ re-solved − Σ stored deltas of the undone commits.
            var factors: [Int: [LowRankDelta<Double>]] = [:]
            for replayed in solved { for (layer, delta) in replayed.deltas { factors[layer, default: []].append(delta) } }
            for commitID in plan.undone {
                for record in try repository.deltas(of: commitID) {
                    let stored = try repository.decodeDelta(commit: commitID, tensor: record.tensor)
                    factors[record.layer, default: []].append(LowRankDelta(u: -1.0 * stored.u.toDouble(), v: stored.v.toDouble()))
                }
            }
            let deltas = factors.keys.sorted().map { layer in
                let parts = factors[layer]!
                let u = parts.dropFirst().reduce(parts[0].u) { $0.appendingColumns($1.u) }
                let v = parts.dropFirst().reduce(parts[0].v) { $0.appendingColumns($1.v) }
                return DeltaInput(tensor: TensorNaming.mlpOutputWeight(layer: layer), layer: layer, u: u, v: v)
            }
            let message = options.message ?? "Revert \"\(target.message)\""
            let statistics = try lifelongStatisticsAfterRevert(headID: headID, replayParentID: plan.replayParentID,
                                                               solved: solved, context: context)
            let draft = CommitDraft(parentID: headID, baseModelID: target.baseModelID, kind: .revert, method: "revert",
                                    facts: [], deltas: deltas, lifelongStatistics: statistics, message: message,
                                    author: options.author ?? defaultAuthor, revertedCommitID: targetID)
            let record = try repository.writeCommit(draft)
            let revertedFacts = try plan.undone.flatMap { try repository.facts(of: $0) }
            let verification = verifyReplay(options) {
                try ReplayVerification.check(commitID: record.id, context: &context, revertedFacts: revertedFacts,
                                             revertedParentID: target.parentID)
            }
            return RevertOutcome(record: record, revertedID: targetID, resolvedCommits: plan.replayed, deltas: deltas, head: head,
                                 verification: verification)
        }
    }

    /// UltraEdit's statistics after a revert, for every layer that has any in the lineage: those
    /// the re-solved commits left, else those in force at the replay's parent, else empty ones (the
    /// reverted commit was the only one to touch the layer). Nothing when the lineage has none.
    private func lifelongStatisticsAfterRevert(headID: String, replayParentID: String?, solved: [HistoryReplay.Replayed],
                                               context: EditContext) throws -> [LifelongStatisticsRecord] {
        let layers = try repository.layersWithLifelongStatistics(inLineageOf: headID).sorted()
        if layers.isEmpty { return [] }
        let configuration = context.model.configuration
        let atParent = try repository.lifelongNormalizers(at: replayParentID, layers: layers, configuration: configuration)
        var byLayer = Dictionary(uniqueKeysWithValues: atParent.map { ($0.key, $0.value.record(layer: $0.key)) })
        for replayed in solved { for record in replayed.lifelongStatistics { byLayer[record.layer] = record } }
        return layers.map { layer in
            byLayer[layer] ?? LifelongNormalizer(keyDimension: configuration.intermediateSize,
                                                 valueDimension: configuration.hiddenSize).record(layer: layer)
        }
    }

    /// Replays the branch's commits after its merge base with `upstream` onto `upstream`,
    /// re-solving each from its stored keys and target values; the branch moves once at the end.
    /// - Throws: `MLEditError` (.conflict for a detached HEAD, an empty branch, a commit on
    ///   another base model), solver, model and ledger errors.
    public func rebase(onto upstream: String, options: HistoryOptions = HistoryOptions()) throws -> RebaseOutcome {
        try writing(wait: options.lockWait) {
            let (branch, headID) = try rebasedBranch()
            let upstreamID = try repository.resolve(upstream)
            if try repository.isAncestor(upstreamID, of: headID) { return .upToDate }
            let (replayed, verification) = try replay(onto: upstreamID, headID: headID, options: options)
            return try finishRebase(branch: branch, oldHead: headID, replayed: replayed,
                                    onto: "\(upstream) (\(upstreamID.prefix(10)))", verification: verification)
        }
    }

    /// Replays the whole lineage in force onto the base checkpoint at `model` (same
    /// architecture), recomputing statistics, keys and targets there.
    /// - Throws: as `rebase(onto:)`, and `.invalidInput` for another architecture.
    public func rebase(ontoModel model: URL, options: HistoryOptions = HistoryOptions()) throws -> RebaseOutcome {
        try writing(wait: options.lockWait) {
            let (branch, headID) = try rebasedBranch()
            let file = try BaseModels.checkpointFile(model)
            let (replayed, verification) = try replay(ontoModel: file, headID: headID, options: options)
            return try finishRebase(branch: branch, oldHead: headID, replayed: replayed, onto: file.path, verification: verification)
        }
    }

    private func rebasedBranch() throws -> (ref: String, head: String) {
        guard case .branch(let branchRef, let headCommit) = try repository.head() else {
            throw MLEditError(.conflict, "HEAD is detached; check out a branch to rebase it")
        }
        guard let headID = headCommit else { throw MLEditError(.conflict, "the branch has no commits to rebase") }
        return (branchRef, headID)
    }

    private func finishRebase(branch: String, oldHead: String, replayed: [(source: CommitRecord, new: CommitRecord)],
                              onto: String, verification: ReplayVerification?) throws -> RebaseOutcome {
        guard let newHead = replayed.last?.new.id else { throw MLEditError(.conflict, "nothing to replay") }
        try repository.updateRef(branch, to: newHead, expecting: oldHead, message: "rebase onto \(onto)")
        return .replayed(branch: branch, oldHead: oldHead, commits: replayed, onto: onto, verification: verification)
    }

    /// Runs the check of a replayed version when `options` ask for it; a failure of the check is a
    /// warning, since the version is already written.
    private func verifyReplay(_ options: HistoryOptions, _ check: () throws -> ReplayVerification) -> ReplayVerification? {
        guard options.verify else { return nil }
        do {
            let verification = try check()
            for warning in verification.warnings { session.note(warning) }
            return verification
        } catch {
            session.note("warning: the facts of the new version were not checked: \(MLEditError.oneLine(error))")
            return nil
        }
    }

    /// The draft of a replayed commit: the source's facts, method, hyperparameters, prefixes,
    /// message and author, with new deltas and edit vectors.
    private func replayDraft(from source: CommitRecord, parentID: String?, baseModelID: Int64, deltas: [DeltaInput],
                             editVectors: [EditVectors], editTargets: EditTargets?,
                             lifelongStatistics: [LifelongStatisticsRecord], efficacy: Double?) throws -> CommitDraft {
        CommitDraft(parentID: parentID, baseModelID: baseModelID, kind: .rebase, method: source.method,
                    hyperparameters: source.hyperparameters, contextPrefixes: source.contextPrefixes,
                    facts: try repository.facts(of: source.id).map(\.fact), deltas: deltas, editVectors: editVectors,
                    editTargets: editTargets, lifelongStatistics: lifelongStatistics, message: source.message, author: source.author, sourceCommitID: source.id, efficacy: efficacy)
    }

    /// Re-solves the commits after the merge base onto `upstreamID` from their stored keys and values.
    private func replay(onto upstreamID: String, headID: String, options: HistoryOptions) throws
        -> ([(source: CommitRecord, new: CommitRecord)], ReplayVerification?) {
        let branchLineage = try repository.lineage(of: headID)
        let mergeBase = try repository.mergeBase(headID, upstreamID)
        let branchInForce = try Lineage.commitsInForce(branchLineage)
        let afterBase = Array(branchLineage.reversed().drop { $0.id != mergeBase }.dropFirst())
        let toReplay = (mergeBase == nil ? Array(branchLineage.reversed()) : afterBase)
            .filter { branchInForce.contains($0.id) && HistoryReplay.carriesFacts($0) }
        let upstreamLineage = try repository.lineage(of: upstreamID)
        let upstreamInForce = try Lineage.commitsInForce(upstreamLineage)
        let prior = upstreamLineage.reversed().filter { upstreamInForce.contains($0.id) && HistoryReplay.carriesFacts($0) }
        let upstream = try repository.commit(upstreamID)
        if let foreign = toReplay.first(where: { $0.baseModelID != upstream.baseModelID }) {
            throw MLEditError(.conflict, "commit \(foreign.id.prefix(10)) is on another base model than \(upstreamID.prefix(10)); use --onto-model")
        }
        var context = try EditContext.load(repository: repository, parentID: upstreamID, session: session)
        let solved = try HistoryReplay.resolve(toReplay, prior: prior, context: &context, corpus: options.corpus, session: session)
        var parent = upstreamID
        var out: [(CommitRecord, CommitRecord)] = []
        for (source, replayed) in zip(toReplay, solved) {
            let inputs = replayed.deltas.sorted { $0.key < $1.key }.map {
                DeltaInput(tensor: TensorNaming.mlpOutputWeight(layer: $0.key), layer: $0.key, u: $0.value.u, v: $0.value.v)
            }
            let record = try repository.storeCommit(replayDraft(from: source, parentID: parent, baseModelID: upstream.baseModelID,
                                                                deltas: inputs, editVectors: replayed.editVectors,
                                                                editTargets: replayed.editTargets,
                                                                lifelongStatistics: replayed.lifelongStatistics, efficacy: nil))
            out.append((source, record))
            parent = record.id
        }
        let newHead = parent
        if out.isEmpty { return (out, nil) }
        return (out, verifyReplay(options) { try ReplayVerification.check(commitID: newHead, context: &context) })
    }

    /// Recomputes every edit of the lineage in force on the checkpoint at `file`.
    private func replay(ontoModel file: URL, headID: String, options: HistoryOptions) throws
        -> ([(source: CommitRecord, new: CommitRecord)], ReplayVerification?) {
        let lineage = try repository.lineage(of: headID)
        let inForce = try Lineage.commitsInForce(lineage)
        let toReplay = lineage.reversed().filter { inForce.contains($0.id) && HistoryReplay.carriesFacts($0) }
        let oldBase = try repository.baseModel(id: lineage.last!.baseModelID)
        let draftModel = try BaseModels.draft(for: file)
        guard draftModel.architecture == oldBase.architecture else {
            throw MLEditError(.invalidInput, "\(file.path) is a \(draftModel.architecture) model; the lineage edits a \(oldBase.architecture) model")
        }
        let newBase = try repository.addBaseModel(draftModel)
        var context = try EditContext.load(repository: repository, parentID: nil, baseModel: newBase, session: session)
        var out: [(CommitRecord, CommitRecord)] = []
        for source in toReplay {
            let facts = try repository.facts(of: source.id)
            let h = try HistoryReplay.hyperparameters(of: source)
            try h.validate(layerCount: context.model.configuration.layerCount)
            let method = try HistoryReplay.method(of: source)
            let statistics = h.usesPreservationStatistics(method)
                ? try context.statistics(layers: h.sortedLayers, hyperparameters: h, corpus: options.corpus, session: session)
                : [:]
            let factsInForce = try context.parentID.map { try repository.facts(inLineageOf: $0) } ?? []
            let superseded = Lineage.superseded(by: facts.map(\.fact), inForce: factsInForce).compactMap { $0 }
            let memory = try context.memory(layers: h.sortedLayers, method: method, hyperparameters: h, excluding: Set(superseded))
            // Layers not edited so far still hold their base weights: remember them before this edit.
            for layer in h.sortedLayers { _ = context.baseWeight(layer: layer) }
            session.note("replaying \(source.id.prefix(10)) (\(facts.count) facts, \(source.method)) on \(file.lastPathComponent)")
            let result = try EditPlanner.computeEdit(
                model: context.model, tokenizer: context.tokenizer, requests: facts.map(EditRequest.init), method: method,
                hyperparameters: h, statistics: statistics, previousKeys: memory.keys, previousGrams: memory.grams,
                previousContextKeys: memory.contextKeys, prefixes: source.contextPrefixes,
                lifelongStatistics: memory.lifelongStatistics, apply: true)
            let record = try repository.storeCommit(replayDraft(from: source, parentID: context.parentID, baseModelID: newBase.id,
                                                                deltas: result.layers.map(\.deltaInput),
                                                                editVectors: result.storedEditVectors,
                                                                editTargets: result.editTargets,
                                                                lifelongStatistics: result.lifelongStatisticsRecords,
                                                                efficacy: result.efficacy))
            // The model now carries the applied edit: it stands at the new commit.
            context.parentID = record.id
            out.append((source, record))
        }
        guard let newHead = out.last?.1.id else { return (out, nil) }
        return (out, verifyReplay(options) { try ReplayVerification.check(commitID: newHead, context: &context) })
    }
}
