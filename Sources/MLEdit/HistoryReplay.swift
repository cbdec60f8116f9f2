// Re-solving recorded commits: replaying them through the solver on other weights (which of
// them are in force is the Ledger's rule, `Lineage.commitsInForce`). Revert and rebase onto a commit are built on this. A
// commit is replayed towards its stored targets z with its keys recomputed layer by layer on the
// weights of the replay, so a change of an earlier edit layer reaches the keys of the later ones;
// the solver's memory term keeps the facts in force (DESIGN.md §3).
import Foundation
import Ledger
import Models
import Solvers
import Tensors

package enum HistoryReplay {
    package static func carriesFacts(_ commit: CommitRecord) -> Bool { commit.kind != .revert }

    package static func hyperparameters(of commit: CommitRecord) throws -> EditHyperparameters {
        do {
            return try commit.hyperparameters.decode(EditHyperparameters.self, field: "hyperparameters of \(commit.id.prefix(10))")
        } catch {
            throw MLEditError(.damaged, "commit \(commit.id.prefix(10)): its hyperparameters cannot be read: \(error)")
        }
    }

    package static func method(of commit: CommitRecord) throws -> EditMethod {
        guard let method = EditMethod(rawValue: commit.method) else {
            throw MLEditError(.damaged, "commit \(commit.id.prefix(10)): unknown method '\(commit.method)'")
        }
        return method
    }

    /// The keys of remembered facts, newest per (subject, prompt), by layer.
    package struct Memory {
        private var order: [FactIdentity] = []
        private var keysByFact: [FactIdentity: [Int: [Double]]] = [:]
        private var requestsByFact: [FactIdentity: EditRequest] = [:]

        /// Remembers the facts of `commit` with their keys from its edit vectors.
        mutating func remember(_ commit: CommitRecord, repository: Repository) throws {
            remember(try repository.facts(of: commit.id), vectors: try repository.editVectors(of: commit.id))
        }

        /// Remembers `facts` with their keys from `vectors` (column = ordinal).
        mutating func remember(_ facts: [FactRecord], vectors: [EditVectors]) {
            for record in facts {
                let key = record.fact.identity
                var columns: [Int: [Double]] = [:]
                for set in vectors where record.ordinal < set.keys.cols { columns[set.layer] = set.keys.column(record.ordinal) }
                if keysByFact[key] == nil { order.append(key) }
                keysByFact[key] = columns
                requestsByFact[key] = EditRequest(record)
            }
        }

        /// Stacked keys (d_in × p) at `layer`, leaving out facts with the keys in `excluded`.
        func keys(layer: Int, dimension: Int, excluding excluded: Set<FactIdentity>) -> Matrix<Double> {
            let columns = order.filter { !excluded.contains($0) }.compactMap { keysByFact[$0]?[layer] }
            var matrix = Matrix<Double>(rows: dimension, cols: columns.count)
            for (j, column) in columns.enumerated() { matrix.setColumn(j, column) }
            return matrix
        }

        /// The remembered facts, oldest first, leaving out those with the keys in `excluded`.
        func requests(excluding excluded: Set<FactIdentity>) -> [EditRequest] {
            order.filter { !excluded.contains($0) }.compactMap { requestsByFact[$0] }
        }

        /// The same keys as `keys(layer:dimension:excluding:)`, per layer in `layers`, in Float.
        func floatKeys(layers: [Int], dimension: Int, excluding excluded: Set<FactIdentity>) -> [Int: Matrix<Float>] {
            var out: [Int: Matrix<Float>] = [:]
            for layer in layers {
                let keys = self.keys(layer: layer, dimension: dimension, excluding: excluded)
                if keys.cols > 0 { out[layer] = keys.toFloat() }
            }
            return out
        }
    }

    /// A commit re-solved on other weights: its new deltas per layer, the keys and values its
    /// layers were solved with, and the targets it was solved towards (nil when it stored none).
    package struct Replayed {
        var deltas: [Int: LowRankDelta<Double>]
        var editVectors: [EditVectors]
        var editTargets: EditTargets?
        /// UltraEdit: the statistics after the re-solved commit (empty for other methods).
        var lifelongStatistics: [LifelongStatisticsRecord] = []
    }

    /// Re-solves `commits` in order on the context's current weights, each with its own method,
    /// hyperparameters and prefixes, remembering `prior` commits' facts. A commit that stored its
    /// targets z is re-distributed over its layers towards them with every key recomputed on the
    /// weights as they are then (an earlier layer's change reaches the later layers' keys); an
    /// older commit is re-solved layer by layer from its stored keys and values. The new deltas are
    /// applied to the model as they are solved. An UltraEdit commit is solved afresh from its
    /// facts, starting from the statistics in force at the context's version (the replay's parent)
    /// as updated by the UltraEdit commits replayed before it — as a new commit there would be.
    package static func resolve(_ commits: [CommitRecord], prior: [CommitRecord], context: inout EditContext,
                        corpus: [String]?, session: Session) throws -> [Replayed] {
        var memory = Memory()
        for commit in prior { try memory.remember(commit, repository: context.repository) }
        // Statistics first: computing them moves the model to its base weights and back.
        var statistics: [String: [Int: LayerStatistics]] = [:]
        for commit in commits {
            let h = try hyperparameters(of: commit)
            if try !h.usesPreservationStatistics(method(of: commit)) { continue }
            let layers = try context.repository.editVectors(of: commit.id).map(\.layer)
            statistics[commit.id] = try context.statistics(layers: layers, hyperparameters: h, corpus: corpus, session: session)
        }
        let dimension = context.model.configuration.intermediateSize
        var lifelong = LifelongState(parentID: context.parentID)
        var results: [Replayed] = []
        for commit in commits {
            let h = try hyperparameters(of: commit)
            let method = try method(of: commit)
            let facts = try context.repository.facts(of: commit.id)
            if method == .ultraedit {
                let layers = h.sortedLayers
                for layer in layers { _ = context.baseWeight(layer: layer) }
                let result = try EditPlanner.computeEdit(
                    model: context.model, tokenizer: context.tokenizer, requests: facts.map(EditRequest.init), method: method,
                    hyperparameters: h, statistics: statistics[commit.id] ?? [:],
                    lifelongStatistics: try lifelong.normalizers(layers: layers, context: context), apply: true)
                lifelong.record(result.lifelongStatistics)
                var deltas: [Int: LowRankDelta<Double>] = [:]
                for edit in result.layers { deltas[edit.layer] = LowRankDelta(u: edit.u.toDouble(), v: edit.v.toDouble()) }
                let vectors = result.storedEditVectors
                memory.remember(facts, vectors: vectors)
                results.append(Replayed(deltas: deltas, editVectors: vectors, editTargets: nil,
                                        lifelongStatistics: result.lifelongStatisticsRecords))
                continue
            }
            let own = Set(facts.map(\.fact.identity))
            let stored = try context.repository.editVectors(of: commit.id)
            for vectors in stored { _ = context.baseWeight(layer: vectors.layer) }
            if let targets = try context.repository.editTargets(of: commit.id), let stats = statistics[commit.id] {
                let layers = stored.map(\.layer)
                // As the commit held them: the context keys of the facts in force, on the weights it starts from.
                let contextKeys = try EditPlanner.contextKeys(
                    model: context.model, tokenizer: context.tokenizer, factsInForce: memory.requests(excluding: own),
                    layers: layers, hyperparameters: h)
                let edits = try EditPlanner.redistribute(
                    model: context.model, tokenizer: context.tokenizer, requests: facts.map(EditRequest.init), method: method,
                    hyperparameters: h, statistics: stats,
                    previousKeys: memory.floatKeys(layers: layers, dimension: dimension, excluding: own),
                    previousContextKeys: contextKeys, prefixes: commit.contextPrefixes, targets: targets.values.toFloat())
                var deltas: [Int: LowRankDelta<Double>] = [:]
                for edit in edits { deltas[edit.layer] = LowRankDelta(u: edit.u.toDouble(), v: edit.v.toDouble()) }
                let vectors = edits.map { $0.editVectors(keepingValues: false) }   // replayed towards its targets again
                memory.remember(facts, vectors: vectors)
                results.append(Replayed(deltas: deltas, editVectors: vectors, editTargets: targets))
                continue
            }
            let labels = facts.map { "\($0.fact.subject) (commit \(commit.id.prefix(10)), fact \($0.ordinal))" }
            var deltas: [Int: LowRankDelta<Double>] = [:]
            for vectors in stored.sorted(by: { $0.layer < $1.layer }) {
                guard let moment = statistics[commit.id]?[vectors.layer]?.moment else { continue }
                var weight = context.model.mlpOutputWeight(layer: vectors.layer).toDouble()
                deltas[vectors.layer] = try PreservationSolver.resolveStored(
                    method, layer: vectors.layer, weight: &weight, keys: vectors.keys, values: vectors.values,
                    previousKeys: memory.keys(layer: vectors.layer, dimension: dimension, excluding: own), moment: moment,
                    labels: labels, hyperparameters: h)
                context.model.setMLPOutputWeight(layer: vectors.layer, weight.toFloat())
            }
            memory.remember(facts, vectors: stored)
            results.append(Replayed(deltas: deltas, editVectors: stored, editTargets: nil))
        }
        return results
    }

    /// UltraEdit's statistics during a replay: those in force at the replay's parent, each layer
    /// read once, then those of every UltraEdit commit re-solved so far.
    package struct LifelongState {
        let parentID: String?
        private(set) var current: [Int: LifelongNormalizer] = [:]
        private var read: Set<Int> = []

        package init(parentID: String?) { self.parentID = parentID }

        /// The statistics of `layers` as they stand now (a layer without any is absent).
        package mutating func normalizers(layers: [Int], context: EditContext) throws -> [Int: LifelongNormalizer] {
            let unread = layers.filter { !read.contains($0) }
            if !unread.isEmpty {
                let stored = try context.repository.lifelongNormalizers(at: parentID, layers: unread,
                                                                        configuration: context.model.configuration)
                for layer in unread where current[layer] == nil { current[layer] = stored[layer] }
                read.formUnion(unread)
            }
            return current.filter { layers.contains($0.key) }
        }

        /// Takes the statistics after a re-solved commit.
        package mutating func record(_ statistics: [Int: LifelongNormalizer]) {
            for (layer, normalizer) in statistics {
                current[layer] = normalizer
                read.insert(layer)
            }
        }
    }
}
