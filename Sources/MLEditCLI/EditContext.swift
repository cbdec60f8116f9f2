// What computing an edit on top of a version needs, assembled from the ledger: the base model
// with the lineage's edits applied, the unedited weights of every layer that may change, the
// preservation statistics (cached per base model, tensor, corpus and token count), and the keys of
// the facts in force (the memory that keeps earlier edits while new ones are solved).
import Foundation
import Ledger
import Models
import Solvers
import Tensors

struct EditContext {
    var repository: Repository
    var baseModel: BaseModelRecord
    var model: any TransformerModel
    var tokenizer: Tokenizer
    /// The unedited MLP output weights of every layer touched so far or now, by layer.
    var baseWeights: [Int: Matrix<Float>]
    /// The version the context stands on (nil: unborn branch, the base model itself).
    var parentID: String?

    /// Loads the base model of `parentID` and applies its lineage's edits.
    /// `baseModel` overrides the parent's base model (a rebase onto another model starts unborn).
    static func load(repository: Repository, parentID: String?, baseModel: BaseModelRecord? = nil,
                     console: Console) throws -> EditContext {
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

    static func tensorName(layer: Int) -> String { "blk.\(layer).ffn_down.weight" }

    /// The unedited weight of `layer`, remembered on first use.
    mutating func baseWeight(layer: Int) -> Matrix<Float> {
        if let weight = baseWeights[layer] { return weight }
        let weight = model.mlpOutputWeight(layer: layer)
        baseWeights[layer] = weight
        return weight
    }

    /// Sets the model's weights to those of `commitID` (nil: the base model).
    mutating func moveTo(_ commitID: String?) throws {
        let edited = Set(try commitID.map { try repository.lineageDeltas(at: $0) }?.values.compactMap { $0.first?.layer } ?? [])
        for layer in edited { _ = baseWeight(layer: layer) }
        for (layer, weight) in baseWeights where !edited.contains(layer) {
            model.setMLPOutputWeight(layer: layer, weight)
        }
        if let commitID { try VersionLoader.applyEdits(of: commitID, repository: repository, to: model, base: baseWeights) }
        parentID = commitID
    }

    /// The digest naming a corpus: SHA-256 over its files' bytes in order.
    static func corpusDigest(paths: [String]) throws -> String {
        var hasher = SHA256()
        for path in paths {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw CommandFailure("\(path): cannot read the corpus file")
            }
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { chunk.withUnsafeBytes { hasher.update($0) } }
        }
        return hasher.finalize().hex
    }

    static func defaultCorpus(_ console: Console) -> [String] {
        if let corpus = console.environment["MLEDIT_CORPUS"], !corpus.isEmpty {
            return corpus.split(separator: ":").map { console.url(forPath: String($0)).path }
        }
        return [ModelResolution.cacheDirectory(console).appendingPathComponent("enwiki-sample.txt").path]
    }

    /// C0 of every layer in `layers` for the base model: from the ledger's cache, else computed on
    /// the unedited model over the corpus and cached (one transaction per layer).
    mutating func statistics(layers: [Int], hyperparameters h: EditHyperparameters, corpus: [String],
                             console: Console) throws -> [Int: LayerStatistics] {
        for path in corpus where !FileManager.default.fileExists(atPath: path) {
            throw CommandFailure("corpus \(path) does not exist; run scripts/fetch-corpus or pass --corpus PATH")
        }
        let digest = try EditContext.corpusDigest(paths: corpus)
        var found: [Int: LayerStatistics] = [:]
        var missing: [Int] = []
        for layer in layers {
            let key = PreservationKey(baseModelID: baseModel.id, tensor: EditContext.tensorName(layer: layer),
                                      corpusDigest: digest, tokenCount: h.statisticsTokenCount)
            if let moment = try repository.preservationStatistics(key) {
                found[layer] = LayerStatistics(layer: layer, tokenCount: h.statisticsTokenCount, moment: moment)
            } else {
                missing.append(layer)
            }
        }
        // Second level: statistics other repositories computed for the same checkpoint and corpus.
        let shared = EditContext.sharedStatisticsDirectory(console)
        var copies: [(matrix: Matrix<Double>, key: PreservationKey)] = []
        for layer in missing {
            let file = shared.appendingPathComponent(EditContext.sharedStatisticsName(
                baseDigest: baseModel.sha256, layer: layer, corpusDigest: digest, tokenCount: h.statisticsTokenCount))
            guard let blob = FileManager.default.contents(atPath: file.path),
                  let statistics = try? LayerStatistics(layer: layer, tokenCount: h.statisticsTokenCount,
                                                        dimension: model.configuration.intermediateSize, blob: blob) else { continue }
            copies.append((statistics.moment, PreservationKey(
                baseModelID: baseModel.id, tensor: EditContext.tensorName(layer: layer), corpusDigest: digest,
                tokenCount: h.statisticsTokenCount)))
            found[layer] = statistics
        }
        try repository.putPreservationStatistics(copies)
        missing.removeAll { found[$0] != nil }
        if missing.isEmpty { return found }
        // Statistics belong to the base model: compute them with every edit taken out.
        let current = parentID
        try moveTo(nil)
        defer { try? moveTo(current) }
        console.note("computing preservation statistics for layers \(missing.map(String.init).joined(separator: ",")) over \(h.statisticsTokenCount) tokens (cached afterwards)")
        let bar = ProgressBar(console: console, label: "statistics", total: h.statisticsTokenCount)
        let computed = try StatisticsCollector.collect(
            model: model, tokenizer: tokenizer, corpus: CorpusReader(paths: corpus), layers: missing,
            tokenCount: h.statisticsTokenCount, sequenceLength: h.statisticsSequenceLength,
            progress: { done, _ in bar.update(done) })
        bar.finish()
        for (layer, statistics) in computed {
            let key = PreservationKey(baseModelID: baseModel.id, tensor: EditContext.tensorName(layer: layer),
                                      corpusDigest: digest, tokenCount: h.statisticsTokenCount)
            try repository.putPreservationStatistics(statistics.moment, for: key)
            found[layer] = statistics
            let file = shared.appendingPathComponent(EditContext.sharedStatisticsName(
                baseDigest: baseModel.sha256, layer: layer, corpusDigest: digest, tokenCount: h.statisticsTokenCount))
            try? FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
            try? statistics.blob.write(to: file, options: .atomic)
        }
        try moveTo(current)
        return found
    }

    /// Where statistics are shared between repositories: a cache beside the default model that can
    /// be deleted at any time (the ledger keeps its own copy).
    static func sharedStatisticsDirectory(_ console: Console) -> URL {
        ModelResolution.cacheDirectory(console).appendingPathComponent("statistics")
    }

    static func sharedStatisticsName(baseDigest: String, layer: Int, corpusDigest: String, tokenCount: Int) -> String {
        "\(baseDigest.prefix(16))-\(tensorName(layer: layer))-\(corpusDigest.prefix(16))-\(tokenCount).f64"
    }

    /// Keys of the facts in force at the parent, per layer (d_in × p), leaving out the facts in
    /// `excluded` (those the new commit supersedes or takes out).
    func memory(layers: [Int], excluding excluded: Set<FactReference> = []) throws -> [Int: Matrix<Float>] {
        guard let parentID else { return [:] }
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
        return out
    }
}

extension EditHyperparameters {
    /// The defaults for `configuration` and `method`, overridden by a JSON object file and by
    /// `--layers`. Unknown fields in the file are errors naming the file and field.
    static func resolve(configuration: ModelConfiguration, method: EditMethod, file: URL?,
                        layers: String?) throws -> EditHyperparameters {
        var h = EditHyperparameters.defaults(for: configuration, method: method)
        if let file {
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw CommandFailure("\(file.path): cannot read the hyperparameters file")
            }
            guard let overrides = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CommandFailure("\(file.path): not a JSON object")
            }
            var merged = try JSONSerialization.jsonObject(with: JSONEncoder().encode(h)) as? [String: Any] ?? [:]
            for (key, value) in overrides {
                guard merged[key] != nil else {
                    throw CommandFailure("\(file.path): field '\(key)': unknown hyperparameter (known: \(merged.keys.sorted().joined(separator: ", ")))")
                }
                merged[key] = value
            }
            do {
                h = try JSONDecoder().decode(EditHyperparameters.self, from: JSONSerialization.data(withJSONObject: merged))
            } catch {
                throw CommandFailure("\(file.path): \(error)")
            }
        }
        if let layers {
            let parsed = layers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else {
                throw UsageError("--layers expects comma-separated layer numbers, got '\(layers)'", command: "commit")
            }
            h.layers = parsed.compactMap { $0 }
        }
        try h.validate(layerCount: configuration.layerCount)
        return h
    }
}
