// `mledit diff`: what differs between two versions: the facts in force (added, removed,
// superseded — by subject and prompt), per edited tensor the Frobenius norm and rank of the
// weight difference (from the low-rank factors of the commits the two lineages do not share),
// and with --behaviour the greedy continuation of each affected fact's prompt under both.
// It reads the ledger and runs the model; it never writes.
import Foundation
import Ledger
import Models
import Solvers
import Tensors

enum DiffCommand {
    static let spec = CommandSpec(
        name: "diff",
        abstract: "Show the facts and weights that differ between two versions.",
        discussion: """
        Facts are matched by subject and prompt: a fact in force at REV2 but not at REV1 is added, one at REV1 but not \
        at REV2 is removed, and one whose target or commit differs is superseded. For every edited tensor, the \
        difference of the two versions' weights is Σ U Vᵀ over the commits only REV2 has minus the same over the commits \
        only REV1 has; its Frobenius norm and numerical rank are computed from the factors. --behaviour loads the model \
        and prints the greedy continuation of each affected fact's prompt under both versions.
        """,
        arguments: [ArgumentSpec("REV1", help: "The old version (commit id, prefix, branch, tag, HEAD~N)."),
                    ArgumentSpec("REV2", help: "The new version.")],
        options: [
            OptionSpec(["--behaviour", "--behavior"], help: "Also compare the greedy continuations of the affected facts' prompts."),
            OptionSpec(["--tokens"], value: "N", help: "Continuation length for --behaviour (default 3)."),
            OptionSpec(["--json"], help: "Print the difference as JSON."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let tokenCount = try arguments.integer("--tokens") ?? 3
        guard tokenCount >= 1 else { throw UsageError("--tokens must be at least 1", command: "diff") }
        let repository = try RepositoryLocator.require(console)
        let old = try repository.resolve(arguments.positionals[0])
        let new = try repository.resolve(arguments.positionals[1])
        let facts = try FactChanges(repository: repository, old: old, new: new)
        let oldCommit = try repository.commit(old), newCommit = try repository.commit(new)
        let sameBase = oldCommit.baseModelID == newCommit.baseModelID
        let tensors = sameBase ? try tensorDifferences(repository: repository, old: old, new: new) : []
        let behaviour = arguments.flag("--behaviour")
            ? try behaviourChanges(facts.affected, repository: repository, old: old, new: new, tokenCount: tokenCount, console: console)
            : nil

        if arguments.flag("--json") {
            var out: [String: Any] = [
                "from": old, "to": new, "same_base_model": sameBase,
                "facts": facts.json,
                "tensors": sameBase ? tensors.map(\.json) as Any : NSNull(),
            ]
            if let behaviour { out["behaviour"] = behaviour.map(\.json) }
            try console.printJSON(out)
            return
        }
        console.print("diff \(RevisionFormatting.short(old)) → \(RevisionFormatting.short(new))")
        console.print("facts: \(facts.added.count) added, \(facts.removed.count) removed, \(facts.superseded.count) superseded")
        for record in facts.removed { console.print("  - \(describe(record.fact))  (\(RevisionFormatting.short(record.commitID)) #\(record.ordinal))") }
        for record in facts.added { console.print("  + \(describe(record.fact))  (\(RevisionFormatting.short(record.commitID)) #\(record.ordinal))") }
        for (before, after) in facts.superseded {
            console.print("  ~ \(quoted(before.fact)): \(before.fact.targetNew) → \(after.fact.targetNew)  (\(RevisionFormatting.short(before.commitID)) #\(before.ordinal) → \(RevisionFormatting.short(after.commitID)) #\(after.ordinal))")
        }
        if !sameBase {
            console.print("weights: the versions are on different base models; the weight difference is not a sum of deltas")
        } else if tensors.isEmpty {
            console.print("weights: identical")
        } else {
            console.print("weights:")
            for tensor in tensors {
                console.print(String(format: "  %@  layer %d  %d×%d  ‖ΔW‖_F %.6g  rank %d", tensor.tensor, tensor.layer,
                                     tensor.difference.rows, tensor.difference.cols, tensor.difference.frobeniusNorm, tensor.difference.rank))
            }
        }
        if let behaviour {
            console.print("behaviour (greedy, \(tokenCount) token\(tokenCount == 1 ? "" : "s")):")
            if behaviour.isEmpty { console.print("  no affected facts") }
            for change in behaviour {
                console.print("  \(change.prompt)")
                console.print("    \(RevisionFormatting.short(old)): \(change.oldText.debugDescription)")
                console.print("    \(RevisionFormatting.short(new)): \(change.newText.debugDescription)\(change.changed ? "" : "  (same)")")
            }
        }
    }

    static func quoted(_ fact: Fact) -> String {
        EditRequest(subject: fact.subject, prompt: fact.prompt, targetNew: fact.targetNew).filledPrompt.debugDescription
    }

    static func describe(_ fact: Fact) -> String {
        "\(quoted(fact)) → \(fact.targetNew)\(fact.targetTrue.map { " (was \($0))" } ?? "")"
    }

    // MARK: Facts

    /// The facts in force at two versions, compared by subject and prompt.
    struct FactChanges {
        var added: [FactRecord] = []
        var removed: [FactRecord] = []
        /// (at the old version, at the new version).
        var superseded: [(FactRecord, FactRecord)] = []

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
        var affected: [Fact] { removed.map(\.fact) + added.map(\.fact) + superseded.map(\.1.fact) }

        var json: [String: Any] {
            [
                "added": added.map(Self.json), "removed": removed.map(Self.json),
                "superseded": superseded.map { ["subject": $0.0.fact.subject, "prompt": $0.0.fact.prompt,
                                                 "from": Self.json($0.0), "to": Self.json($0.1)] as [String: Any] },
            ]
        }

        static func json(_ record: FactRecord) -> [String: Any] {
            ["subject": record.fact.subject, "prompt": record.fact.prompt, "target_new": record.fact.targetNew,
             "target_true": record.fact.targetTrue ?? NSNull(), "commit": record.commitID, "ordinal": record.ordinal]
        }
    }

    // MARK: Weights

    struct TensorDifference {
        var tensor: String
        var layer: Int
        var difference: LowRankDifference
        var commitsAdded: [String]
        var commitsRemoved: [String]

        var json: [String: Any] {
            ["tensor": tensor, "layer": layer, "rows": difference.rows, "cols": difference.cols,
             "frobenius_norm": difference.frobeniusNorm, "rank": difference.rank,
             "singular_values": difference.singularValues, "commits_added": commitsAdded, "commits_removed": commitsRemoved]
        }
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
                throw CommandFailure("tensor \(tensor): \(error)")
            }
            out.append(TensorDifference(tensor: tensor, layer: layer, difference: difference,
                                        commitsAdded: added.map(\.commitID), commitsRemoved: removed.map(\.commitID)))
        }
        return out.sorted { ($0.layer, $0.tensor) < ($1.layer, $1.tensor) }
    }

    // MARK: Behaviour

    struct BehaviourChange {
        var prompt: String
        var oldIDs: [Int]
        var newIDs: [Int]
        var oldText: String
        var newText: String
        var changed: Bool { oldIDs != newIDs }

        var json: [String: Any] {
            ["prompt": prompt, "changed": changed,
             "from": ["ids": oldIDs, "text": oldText] as [String: Any], "to": ["ids": newIDs, "text": newText] as [String: Any]]
        }
    }

    /// Greedy continuations of the affected facts' prompts under both versions (one model load when
    /// the versions share their base model: the old version's edits are swapped for the new ones').
    static func behaviourChanges(_ facts: [Fact], repository: Repository, old: String, new: String,
                                 tokenCount: Int, console: Console) throws -> [BehaviourChange] {
        if facts.isEmpty { return [] }
        let prompts = facts.map { EditRequest(subject: $0.subject, prompt: $0.prompt, targetNew: $0.targetNew).filledPrompt }
        func continuations(_ loaded: LoadedModel) throws -> [[Int]] {
            let context = loaded.model.configuration.contextLength
            let ids = try prompts.map { text in
                let ids = FactTokenization.text(text, tokenizer: loaded.tokenizer)
                guard !ids.isEmpty, ids.count <= context else {
                    throw CommandFailure("prompt \(text.debugDescription) has \(ids.count) tokens; the model's context holds \(context)")
                }
                return ids
            }
            return EvaluationScorer().greedyContinuations(model: loaded.model, prompts: ids, tokenCount: tokenCount,
                                                          stopTokenID: loaded.model.eosTokenID)
        }
        let before: [[Int]], after: [[Int]]
        let oldTokenizer: Tokenizer, newTokenizer: Tokenizer
        if try repository.commit(old).baseModelID == repository.commit(new).baseModelID {
            let record = try VersionLoader.baseModel(of: repository, commitID: old)
            let url = URL(fileURLWithPath: record.path)
            let model = try ModelLoader.load(url: url)
            let tokenizer = try ModelResolution.tokenizer(for: url)
            var layers = Set<Int>()
            for revision in [old, new] {
                let lineage = try repository.lineageDeltas(at: revision)
                try VersionLoader.checkFits(lineage.mapValues { $0.map { ($0.layer, $0.rows, $0.cols) } },
                                            configuration: model.configuration, commitID: revision)
                for records in lineage.values { if let layer = records.first?.layer { layers.insert(layer) } }
            }
            var baseWeights: [Int: Matrix<Float>] = [:]
            for layer in layers { baseWeights[layer] = model.mlpOutputWeight(layer: layer) }
            try VersionLoader.applyEdits(of: old, repository: repository, to: model, base: baseWeights)
            before = try continuations(LoadedModel(model: model, tokenizer: tokenizer, url: url, version: old))
            for (layer, weight) in baseWeights { model.setMLPOutputWeight(layer: layer, weight) }
            try VersionLoader.applyEdits(of: new, repository: repository, to: model, base: baseWeights)
            after = try continuations(LoadedModel(model: model, tokenizer: tokenizer, url: url, version: new))
            oldTokenizer = tokenizer
            newTokenizer = tokenizer
        } else {
            let oldLoaded = try VersionLoader.load(repository: repository, revision: old, console: console)
            before = try continuations(oldLoaded)
            oldTokenizer = oldLoaded.tokenizer
            let newLoaded = try VersionLoader.load(repository: repository, revision: new, console: console)
            after = try continuations(newLoaded)
            newTokenizer = newLoaded.tokenizer
        }
        return prompts.indices.map { i in
            BehaviourChange(prompt: prompts[i], oldIDs: before[i], newIDs: after[i],
                            oldText: oldTokenizer.decode(before[i]), newText: newTokenizer.decode(after[i]))
        }
    }
}
