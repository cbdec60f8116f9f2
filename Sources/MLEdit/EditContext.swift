// What computing an edit on top of a version needs, assembled from the ledger: the base model
// with the lineage's edits applied, the unedited weights of every layer that may change, the
// preservation statistics (cached per base model, tensor, corpus and token count), and the keys of
// the facts in force (the memory that keeps earlier edits while new ones are solved).
import Foundation
import Ledger
import Models
import Solvers
import Tensors

package struct EditContext {
    package var repository: Repository
    package var baseModel: BaseModelRecord
    package var model: any TransformerModel
    package var tokenizer: Tokenizer
    /// The unedited MLP output weights of every layer touched so far or now, by layer.
    package var baseWeights: [Int: Matrix<Float>]
    /// The version the context stands on (nil: unborn branch, the base model itself).
    package var parentID: String?

    /// Loads the base model of `parentID` and applies its lineage's edits.
    /// `baseModel` overrides the parent's base model (a rebase onto another model starts unborn).
    package static func load(repository: Repository, parentID: String?, baseModel: BaseModelRecord? = nil,
                     session: Session) throws -> EditContext {
        let record = try baseModel ?? VersionLoader.baseModel(of: repository, commitID: parentID)
        if baseModel != nil { try VersionLoader.verify(record) }
        let url = URL(fileURLWithPath: record.path)
        let model = try ModelLoader.load(url: url)
        let tokenizer = try ModelResolution.tokenizer(for: url)
        var context = EditContext(repository: repository, baseModel: record, model: model, tokenizer: tokenizer,
                                  baseWeights: [:], parentID: parentID)
        if let parentID { try context.moveTo(parentID) }
        return context
    }

    /// The unedited weight of `layer`, remembered on first use.
    package mutating func baseWeight(layer: Int) -> Matrix<Float> {
        if let weight = baseWeights[layer] { return weight }
        let weight = model.mlpOutputWeight(layer: layer)
        baseWeights[layer] = weight
        return weight
    }

    /// Sets the model's weights to those of `commitID` (nil: the base model).
    package mutating func moveTo(_ commitID: String?) throws {
        let records = try commitID.map { try repository.lineageDeltas(at: $0) } ?? [:]
        if let commitID {
            try VersionLoader.checkFits(records.mapValues { $0.map { ($0.layer, $0.rows, $0.cols) } },
                                        configuration: model.configuration, commitID: commitID)
        }
        let edited = Set(records.values.compactMap { $0.first?.layer })
        for layer in edited { _ = baseWeight(layer: layer) }
        for (layer, weight) in baseWeights where !edited.contains(layer) {
            model.setMLPOutputWeight(layer: layer, weight)
        }
        if let commitID { try VersionLoader.applyEdits(of: commitID, repository: repository, to: model, base: baseWeights) }
        parentID = commitID
    }

    /// The digest naming a corpus: SHA-256 over its files' bytes in order.
    package static func corpusDigest(paths: [String]) throws -> String {
        var hasher = SHA256()
        for path in paths {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw MLEditError(.invalidInput, "\(path): cannot read the corpus file")
            }
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { chunk.withUnsafeBytes { hasher.update($0) } }
        }
        return hasher.finalize().hex
    }

    /// The ledger's key names the corpus and how it is cut into sequences; the default length
    /// keeps the plain corpus digest that earlier ledgers used.
    package static func cutDigest(_ corpusDigest: String, sequenceLength: Int) -> String {
        sequenceLength == EditHyperparameters(layers: []).statisticsSequenceLength
            ? corpusDigest : corpusDigest + "/sequence-length-\(sequenceLength)"
    }

    /// The corpus digest of a ledger key made by `cutDigest` for `sequenceLength`, else nil.
    package static func plainDigest(_ key: String, sequenceLength: Int) -> String? {
        let plain = String(key.prefix(64))
        return cutDigest(plain, sequenceLength: sequenceLength) == key ? plain : nil
    }

    package static func defaultCorpus(_ session: Session) -> [String] {
        if let corpus = session.environment["MLEDIT_CORPUS"], !corpus.isEmpty {
            return corpus.split(separator: ":").map { session.url(forPath: String($0)).path }
        }
        return [session.cacheDirectory.appendingPathComponent("enwiki-sample.txt").path]
    }

    /// C0 of every layer in `layers` for the base model: from the ledger's cache, else computed on
    /// the unedited model over the corpus and cached (one transaction per layer).
    ///
    /// Without `given` (no `--corpus`), statistics the ledger already holds for these layers are
    /// used whatever corpus they came from — the one the history was made with — and only when
    /// there are none is the default corpus read.
    package mutating func statistics(layers: [Int], hyperparameters h: EditHyperparameters, corpus given: [String]?,
                             session: Session) throws -> [Int: LayerStatistics] {
        let corpus = given ?? EditContext.defaultCorpus(session)
        let cut = { (digest: String) in EditContext.cutDigest(digest, sequenceLength: h.statisticsSequenceLength) }
        var recorded: String?
        if given == nil {
            let tensors = Set(layers.map(TensorNaming.mlpOutputWeight(layer:)))
            var covered: [String: Set<String>] = [:]
            for key in try repository.preservationStatisticsKeys(baseModelID: baseModel.id)
            where key.tokenCount == h.statisticsTokenCount && tensors.contains(key.tensor) {
                covered[key.corpusDigest, default: []].insert(key.tensor)
            }
            let candidates = covered.filter { $0.value == tensors }.keys.sorted()
                .compactMap { EditContext.plainDigest($0, sequenceLength: h.statisticsSequenceLength) }
            if !candidates.isEmpty {
                let defaultDigest = corpus.allSatisfy { FileManager.default.fileExists(atPath: $0) }
                    ? try EditContext.corpusDigest(paths: corpus) : nil
                let chosen = candidates.first { $0 == defaultDigest } ?? candidates[0]
                if chosen != defaultDigest {
                    session.note("note: no --corpus given; using the preservation statistics the ledger holds (corpus \(chosen.prefix(12)))")
                }
                recorded = chosen
            }
        }
        if recorded == nil {
            for path in corpus where !FileManager.default.fileExists(atPath: path) {
                throw MLEditError(.notFound, "corpus \(path) does not exist; run scripts/fetch-corpus or pass --corpus PATH")
            }
        }
        let corpusDigest = try recorded ?? EditContext.corpusDigest(paths: corpus)
        let cutDigest = cut(corpusDigest)
        func ledgerKey(_ layer: Int) -> PreservationKey {
            PreservationKey(baseModelID: baseModel.id, tensor: TensorNaming.mlpOutputWeight(layer: layer),
                            corpusDigest: cutDigest, tokenCount: h.statisticsTokenCount)
        }
        var found: [Int: LayerStatistics] = [:]
        var missing: [Int] = []
        for layer in layers {
            if let moment = try repository.preservationStatistics(ledgerKey(layer)) {
                found[layer] = LayerStatistics(layer: layer, tokenCount: h.statisticsTokenCount, moment: moment)
            } else {
                missing.append(layer)
            }
        }
        // Second level: statistics other repositories computed for the same checkpoint and corpus.
        let shared = SharedStatisticsCache(directory: EditContext.sharedStatisticsDirectory(session))
        func sharedKey(_ layer: Int) -> SharedStatisticsCache.Key {
            SharedStatisticsCache.Key(baseDigest: baseModel.sha256, layer: layer, corpusDigest: corpusDigest,
                                      tokenCount: h.statisticsTokenCount, sequenceLength: h.statisticsSequenceLength)
        }
        var copies: [(matrix: Matrix<Double>, key: PreservationKey)] = []
        for layer in missing {
            guard let statistics = shared.load(sharedKey(layer), dimension: model.configuration.intermediateSize,
                                               rejected: { session.note("note: \($0); recomputing") }) else { continue }
            copies.append((statistics.moment, ledgerKey(layer)))
            found[layer] = statistics
        }
        try repository.putPreservationStatistics(copies)
        missing.removeAll { found[$0] != nil }
        if missing.isEmpty { return found }
        // Statistics belong to the base model: compute them with every edit taken out.
        let current = parentID
        try moveTo(nil)
        defer { try? moveTo(current) }
        session.note("computing preservation statistics for layers \(missing.map(String.init).joined(separator: ",")) over \(h.statisticsTokenCount) tokens (cached afterwards)")
        let bar = session.progress("statistics", h.statisticsTokenCount)
        let computed = try StatisticsCollector.collect(
            model: model, tokenizer: tokenizer, corpus: CorpusReader(paths: corpus), layers: missing,
            tokenCount: h.statisticsTokenCount, sequenceLength: h.statisticsSequenceLength,
            progress: { done, _ in bar.update(done) })
        bar.finish()
        for (layer, statistics) in computed {
            try repository.putPreservationStatistics(statistics.moment, for: ledgerKey(layer))
            found[layer] = statistics
            shared.store(statistics, key: sharedKey(layer))
        }
        try moveTo(current)
        return found
    }

    /// The NAS reference norm for an edit at this version: the `nas_target_norm` of the newest
    /// commit of the lineage that has one (one reference for the whole history, as NAS uses), else
    /// measured on the base model over `requests` (`NormAlignedTargets.referenceNorm`, with context
    /// prefixes sampled on the base as the planner samples them), with where it came from.
    package mutating func nasReferenceNorm(requests: [EditRequest], hyperparameters h: EditHyperparameters) throws
        -> (norm: Double, source: String) {
        if let parentID {
            for record in try repository.lineage(of: parentID) where record.kind == .edit {
                if let norm = (try? record.hyperparameters.decode(EditHyperparameters.self))?.nasTargetNorm {
                    return (norm, "commit \(record.id.prefix(10))")
                }
            }
        }
        let current = parentID
        try moveTo(nil)
        let norm: Double
        do {
            let prefixes = ContextPrefixSampler.sample(model: model, tokenizer: tokenizer, count: h.prefixCount,
                                                       length: h.prefixLength, topK: h.prefixTopK, seed: h.seed)
            norm = try NormAlignedTargets.referenceNorm(model: model, tokenizer: tokenizer, requests: requests,
                                                        hyperparameters: h, prefixes: prefixes)
        } catch {
            try? moveTo(current)
            throw error
        }
        try moveTo(current)
        return (norm, "measured on the base model over \(requests.count) fact\(requests.count == 1 ? "" : "s")")
    }

    /// Where statistics are shared between repositories: a cache beside the default model that can
    /// be deleted at any time (the ledger keeps its own copy).
    package static func sharedStatisticsDirectory(_ session: Session) -> URL {
        session.cacheDirectory.appendingPathComponent("statistics")
    }

    /// The memory of the facts in force at the parent, leaving out the facts in `excluded` (those
    /// the new commit supersedes or takes out), as `method` takes it: Σ k kᵀ per layer for MEMIT
    /// and AlphaEdit (accumulated, and cached by the ledger for long histories), the keys
    /// themselves (d_in × p per layer) for EMMET and ROME, which hold each earlier fact exactly.
    /// UltraEdit keeps no memory of facts, only its running feature statistics at the parent.
    /// With `memory_context_weight` set, the keys at the other positions of the facts' bare prompts
    /// (and of their answers, with `memory_context_answer`) too, a sample of
    /// `EditPlanner.contextFactLimit` when there are more, computed on the model's weights as they
    /// are: call it with the parent's weights in place.
    package func memory(layers: [Int], method: EditMethod, hyperparameters h: EditHyperparameters,
                        excluding excluded: Set<FactReference> = []) throws -> EditMemory {
        guard let parentID else { return EditMemory() }
        if method == .ultraedit {
            return EditMemory(lifelongStatistics: try repository.lifelongNormalizers(
                at: parentID, layers: layers, configuration: model.configuration))
        }
        var contextKeys: [Int: Matrix<Float>] = [:]
        if h.memoryContextWeight != nil {
            let inForce = try repository.facts(inLineageOf: parentID).filter { !excluded.contains($0.reference) }
            contextKeys = try EditPlanner.contextKeys(model: model, tokenizer: tokenizer, factsInForce: inForce.map(EditRequest.init),
                                                      layers: layers, hyperparameters: h)
        }
        if method.holdsEarlierFactsByGram {
            let grams = try repository.memoryGrams(at: parentID, layers: layers, excluding: excluded)
            return EditMemory(grams: grams.mapValues(\.gram), contextKeys: contextKeys)
        }
        var columns: [Int: [[Double]]] = [:]
        var vectorsByCommit: [String: [EditVectors]] = [:]
        for record in try repository.facts(inLineageOf: parentID) where !excluded.contains(record.reference) {
            if vectorsByCommit[record.commitID] == nil { vectorsByCommit[record.commitID] = try repository.editVectors(of: record.commitID) }
            for vectors in vectorsByCommit[record.commitID] ?? [] where layers.contains(vectors.layer) {
                guard record.ordinal < vectors.keys.cols else { continue }
                columns[vectors.layer, default: []].append(vectors.keys.column(record.ordinal))
            }
        }
        var out: [Int: Matrix<Float>] = [:]
        for (layer, keys) in columns where !keys.isEmpty {
            var matrix = Matrix<Float>(rows: keys[0].count, cols: keys.count)
            for (j, key) in keys.enumerated() { matrix.setColumn(j, key.map { Float($0) }) }
            out[layer] = matrix
        }
        return EditMemory(keys: out, contextKeys: contextKeys)
    }
}

/// What the solver preserves of the facts in force: their keys or their accumulated Gram; for
/// UltraEdit, the running statistics of its features.
package struct EditMemory {
    package var keys: [Int: Matrix<Float>] = [:]
    package var grams: [Int: Matrix<Double>] = [:]
    package var lifelongStatistics: [Int: LifelongNormalizer] = [:]
    /// Keys at the other positions of earlier facts' bare prompts (`memory_context_weight`).
    package var contextKeys: [Int: Matrix<Float>] = [:]

    package init(keys: [Int: Matrix<Float>] = [:], grams: [Int: Matrix<Double>] = [:],
                 lifelongStatistics: [Int: LifelongNormalizer] = [:], contextKeys: [Int: Matrix<Float>] = [:]) {
        self.keys = keys
        self.grams = grams
        self.lifelongStatistics = lifelongStatistics
        self.contextKeys = contextKeys
    }
}

extension EditHyperparameters {
    /// The defaults for `configuration` and `method`, overridden by a JSON object file and by
    /// `editLayers`. Unknown fields in the file are errors naming the file and field.
    public static func resolve(configuration: ModelConfiguration, method: EditMethod, file: URL?,
                               editLayers: [Int]?) throws -> EditHyperparameters {
        var h = EditHyperparameters.defaults(for: configuration, method: method)
        if let file {
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw MLEditError(.invalidInput, "\(file.path): cannot read the hyperparameters file")
            }
            let parsed: Any
            do {
                parsed = try JSONSerialization.jsonObject(with: data)
            } catch {
                throw MLEditError(.invalidInput, "\(file.path): not valid JSON (NaN, Infinity and numbers beyond ±1.8e308 are not JSON numbers)")
            }
            guard let overrides = parsed as? [String: Any] else {
                throw MLEditError(.invalidInput, "\(file.path): expected a JSON object of hyperparameters, found \(parsed is [Any] ? "an array" : "a single value")")
            }
            var merged = try JSONSerialization.jsonObject(with: JSONEncoder().encode(h)) as? [String: Any] ?? [:]
            for key in overrides.keys.sorted() {
                guard merged[key] != nil || EditHyperparameters.optionalFields.contains(key) else {
                    let known = Set(merged.keys).union(EditHyperparameters.optionalFields).sorted()
                    throw MLEditError(.invalidInput, "\(file.path): field '\(key)': unknown hyperparameter (known: \(known.joined(separator: ", ")))")
                }
                if let number = overrides[key] as? Double, !number.isFinite {
                    throw MLEditError(.invalidInput, "\(file.path): field '\(key)': \(number) is not a finite number")
                }
                if EditHyperparameters.wholeNumberFields.contains(key) {
                    let values = overrides[key].map { ($0 as? [Any]) ?? [$0] } ?? []
                    for value in values {
                        guard let number = value as? NSNumber,
                              number.doubleValue.rounded() == number.doubleValue, abs(number.doubleValue) < 1e15 else {
                            throw MLEditError(.invalidInput, "\(file.path): field '\(key)': expected \(key == "layers" ? "an array of whole numbers" : "a whole number"), got \(value)")
                        }
                    }
                }
                merged[key] = overrides[key]
            }
            do {
                h = try JSONDecoder().decode(EditHyperparameters.self, from: JSONSerialization.data(withJSONObject: merged))
            } catch let error as DecodingError {
                throw MLEditError(.invalidInput, "\(file.path): \(Self.describe(error))")
            }
            do {
                try h.validate(layerCount: configuration.layerCount, contextLength: configuration.contextLength)
            } catch SolverError.invalidHyperparameter(let field, let reason) where overrides[field] != nil {
                throw MLEditError(.invalidInput, "\(file.path): field '\(field)': \(reason)")
            }
        }
        if let editLayers { h.layers = editLayers }
        try h.validate(layerCount: configuration.layerCount, contextLength: configuration.contextLength)
        return h
    }

    /// A decoding failure as "field 'name': what was wrong", in one line.
    package static func describe(_ error: DecodingError) -> String {
        func field(_ path: [CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .typeMismatch(let type, let context):
            let expected = type == Int.self || type == UInt64.self ? "a whole number in range"
                : type == Double.self ? "a number" : type == Bool.self ? "true or false"
                : type == String.self ? "a string" : "a value of type \(type)"
            return "field '\(field(context.codingPath))': expected \(expected)"
        case .valueNotFound(_, let context), .keyNotFound(_, let context):
            return "field '\(field(context.codingPath))': missing"
        case .dataCorrupted(let context):
            return "field '\(field(context.codingPath))': \(context.debugDescription)"
        @unknown default:
            return String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
        }
    }
}
