// `mledit rebase`: replay the current branch's commits onto another commit (re-solving each from
// its stored keys and target values), or the whole lineage onto another base checkpoint of the
// same architecture (recomputing statistics, keys and target values there). Replayed commits keep
// their facts, message and author, record the commit they came from, and get new ids; the branch
// moves once at the end, and the old commits stay reachable through the reflog.
import Foundation
import Ledger
import Models
import Solvers
import Tensors

enum RebaseCommand {
    static let spec = CommandSpec(
        name: "rebase",
        abstract: "Replay the branch's edits onto another commit or another base model.",
        discussion: "Reverted commits and reverts are not replayed: the replayed history holds the facts in force. Facts with the subject and prompt of an upstream fact supersede it.",
        arguments: [ArgumentSpec("UPSTREAM", optional: true, help: "The commit to replay onto (not with --onto-model).")],
        options: [
            WriterLockOption.spec,
            OptionSpec(["--onto-model"], value: "PATH", help: "Replay the whole lineage onto this base checkpoint, re-computing every edit on it."),
            OptionSpec(["--corpus"], value: "PATH", repeatable: true, help: "Corpus for preservation statistics, when they are not cached."),
            OptionSpec(["--json"], help: "Print the replayed commits as JSON."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let repository = try RepositoryLocator.require(console)
        let lock = try WriterLockOption.acquire(repository, arguments: arguments, console: console, command: "rebase")
        defer { withExtendedLifetime(lock) {} }
        guard case .branch(let branchRef, let headCommit) = try repository.head() else {
            throw CommandFailure("HEAD is detached; check out a branch to rebase it")
        }
        guard let headID = headCommit else { throw CommandFailure("the branch has no commits to rebase") }
        let corpus = arguments.values("--corpus").isEmpty ? nil
            : arguments.values("--corpus").map { console.url(forPath: $0).path }
        let replayed: [(source: CommitRecord, new: CommitRecord)]
        let onto: String
        if let modelPath = arguments.value("--onto-model") {
            guard arguments.positionals.isEmpty else { throw UsageError("give UPSTREAM or --onto-model, not both", command: "rebase") }
            let file = try InitCommand.checkpointFile(console.url(forPath: modelPath))
            replayed = try ontoModel(file, repository: repository, headID: headID, corpus: corpus, console: console)
            onto = file.path
        } else {
            guard let upstream = arguments.positional(0) else { throw UsageError("missing argument UPSTREAM (or --onto-model PATH)", command: "rebase") }
            let upstreamID = try repository.resolve(upstream)
            if try repository.isAncestor(upstreamID, of: headID) {
                console.print("Current branch is up to date with \(upstream).")
                return
            }
            replayed = try ontoCommit(upstreamID, repository: repository, headID: headID, corpus: corpus, console: console)
            onto = "\(upstream) (\(upstreamID.prefix(10)))"
        }
        guard let newHead = replayed.last?.new.id else { throw CommandFailure("nothing to replay") }
        try repository.updateRef(branchRef, to: newHead, expecting: headID, message: "rebase onto \(onto)")
        if arguments.flag("--json") {
            try console.printJSON(["head": newHead, "commits": replayed.map { ["source": $0.source.id, "id": $0.new.id] }])
            return
        }
        for pair in replayed {
            console.print("\(pair.source.id.prefix(10)) -> \(pair.new.id.prefix(10))  \(pair.new.message)")
        }
        let name = branchRef.replacingOccurrences(of: "refs/heads/", with: "")
        console.print("Rebased \(name) onto \(onto): \(replayed.count) commit\(replayed.count == 1 ? "" : "s") replayed; the old head \(headID.prefix(10)) is in the reflog.")
    }

    /// The draft of a replayed commit: the source's facts, method, hyperparameters, prefixes,
    /// message and author, with new deltas and edit vectors.
    static func draft(from source: CommitRecord, parentID: String?, baseModelID: Int64, repository: Repository,
                      deltas: [DeltaInput], editVectors: [EditVectors], editTargets: EditTargets?,
                      efficacy: Double?) throws -> CommitDraft {
        CommitDraft(parentID: parentID, baseModelID: baseModelID, kind: .rebase, method: source.method,
                    hyperparameters: source.hyperparameters, contextPrefixes: source.contextPrefixes,
                    facts: try repository.facts(of: source.id).map(\.fact), deltas: deltas, editVectors: editVectors,
                    editTargets: editTargets, message: source.message, author: source.author, sourceCommitID: source.id, efficacy: efficacy)
    }

    /// Re-solves the commits after the merge base onto `upstreamID` from their stored keys and values.
    static func ontoCommit(_ upstreamID: String, repository: Repository, headID: String, corpus: [String]?,
                           console: Console) throws -> [(source: CommitRecord, new: CommitRecord)] {
        let branchLineage = Array(try repository.lineage(of: headID).reversed())
        let mergeBase = try repository.mergeBase(headID, upstreamID)
        let startIndex = mergeBase.flatMap { base in branchLineage.firstIndex { $0.id == base } }.map { $0 + 1 } ?? 0
        let branchEffective = try Lineage.commitsInForce(branchLineage.reversed())
        let toReplay = branchLineage[startIndex...].filter { branchEffective.contains($0.id) && HistoryReplay.carriesFacts($0) }
        let upstreamLineage = Array(try repository.lineage(of: upstreamID).reversed())
        let upstreamEffective = try Lineage.commitsInForce(upstreamLineage.reversed())
        let prior = upstreamLineage.filter { upstreamEffective.contains($0.id) && HistoryReplay.carriesFacts($0) }
        let upstream = try repository.commit(upstreamID)
        if let foreign = toReplay.first(where: { $0.baseModelID != upstream.baseModelID }) {
            throw CommandFailure("commit \(foreign.id.prefix(10)) is on another base model than \(upstreamID.prefix(10)); use --onto-model")
        }
        var context = try EditContext.load(repository: repository, parentID: upstreamID, console: console)
        let solved = try HistoryReplay.resolve(Array(toReplay), prior: prior, context: &context, corpus: corpus, console: console)
        var parent = upstreamID
        var out: [(CommitRecord, CommitRecord)] = []
        for (source, replayed) in zip(toReplay, solved) {
            let inputs = replayed.deltas.sorted { $0.key < $1.key }.map {
                DeltaInput(tensor: TensorNaming.mlpOutputWeight(layer: $0.key), layer: $0.key, u: $0.value.u, v: $0.value.v)
            }
            let record = try repository.storeCommit(draft(from: source, parentID: parent, baseModelID: upstream.baseModelID,
                                                          repository: repository, deltas: inputs, editVectors: replayed.editVectors,
                                                          editTargets: replayed.editTargets, efficacy: nil))
            out.append((source, record))
            parent = record.id
        }
        return out
    }

    /// Recomputes every edit of the lineage in force on the checkpoint at `file`.
    static func ontoModel(_ file: URL, repository: Repository, headID: String, corpus: [String]?,
                          console: Console) throws -> [(source: CommitRecord, new: CommitRecord)] {
        let lineage = Array(try repository.lineage(of: headID).reversed())
        let effective = try Lineage.commitsInForce(lineage.reversed())
        let toReplay = lineage.filter { effective.contains($0.id) && HistoryReplay.carriesFacts($0) }
        let oldBase = try repository.baseModel(id: lineage[0].baseModelID)
        let draftModel = try InitCommand.baseModelDraft(for: file)
        guard draftModel.architecture == oldBase.architecture else {
            throw CommandFailure("\(file.path) is a \(draftModel.architecture) model; the lineage edits a \(oldBase.architecture) model")
        }
        let newBase = try repository.addBaseModel(draftModel)
        var context = try EditContext.load(repository: repository, parentID: nil, baseModel: newBase, console: console)
        var out: [(CommitRecord, CommitRecord)] = []
        for source in toReplay {
            let facts = try repository.facts(of: source.id)
            let requests = HistoryReplay.requests(facts)
            let h = try HistoryReplay.hyperparameters(of: source)
            try h.validate(layerCount: context.model.configuration.layerCount)
            let statistics = try context.statistics(layers: h.sortedLayers, hyperparameters: h, corpus: corpus, console: console)
            let inForce = try context.parentID.map { try repository.facts(inLineageOf: $0) } ?? []
            let superseded = Lineage.superseded(by: facts.map(\.fact), inForce: inForce).compactMap { $0 }
            let method = try HistoryReplay.method(of: source)
            let memory = try context.memory(layers: h.sortedLayers, method: method, excluding: Set(superseded))
            // Layers not edited so far still hold their base weights: remember them before this edit.
            for layer in h.sortedLayers { _ = context.baseWeight(layer: layer) }
            console.note("replaying \(source.id.prefix(10)) (\(facts.count) facts, \(source.method)) on \(file.lastPathComponent)")
            let result = try EditPlanner.computeEdit(
                model: context.model, tokenizer: context.tokenizer, requests: requests, method: method, hyperparameters: h,
                statistics: statistics, previousKeys: memory.keys, previousGrams: memory.grams, prefixes: source.contextPrefixes,
                apply: true)
            let record = try repository.storeCommit(draft(from: source, parentID: context.parentID, baseModelID: newBase.id,
                                                          repository: repository, deltas: result.layers.map(\.deltaInput),
                                                          editVectors: result.layers.map(\.editVectors),
                                                          editTargets: result.editTargets, efficacy: result.efficacy))
            // The model now carries the applied edit: it stands at the new commit.
            context.parentID = record.id
            out.append((source, record))
        }
        return out
    }
}
