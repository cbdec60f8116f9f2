// UltraEdit's running feature statistics between the solver and the ledger: the solver's
// `LifelongNormalizer` as the rows of schema 005, and the statistics in force at a version.
// The rule for which commit's rows are in force is the ledger's (the nearest in the lineage).
import Foundation
import Ledger
import Models
import Solvers
import Tensors

extension LifelongNormalizer {
    /// The statistics of `record`.
    /// - Throws: `MLEditError(.damaged)` when its parts do not fit together or not the model.
    package init(record: LifelongStatisticsRecord, configuration: ModelConfiguration, commit: String) throws {
        guard let normalizer = LifelongNormalizer(keyDimension: record.keyDimension, count: record.count,
                                                  mean: record.mean, variance: record.variance),
              record.keyDimension == configuration.intermediateSize,
              record.mean.count == configuration.intermediateSize + configuration.hiddenSize else {
            throw MLEditError(.damaged, "commit \(commit.prefix(10)): UltraEdit statistics of \(record.tensor) are \(record.keyDimension) + \(record.mean.count - record.keyDimension) wide; the model's features are \(configuration.intermediateSize) + \(configuration.hiddenSize)")
        }
        self = normalizer
    }

    /// The ledger row of these statistics at `layer`.
    package func record(layer: Int) -> LifelongStatisticsRecord {
        LifelongStatisticsRecord(tensor: TensorNaming.mlpOutputWeight(layer: layer), layer: layer, count: count,
                                 keyDimension: keyDimension, mean: mean, variance: variance)
    }
}

extension Repository {
    /// The UltraEdit statistics in force at `commitID` (nil: none, the base model) for `layers`,
    /// by layer; a layer without any is absent.
    package func lifelongNormalizers(at commitID: String?, layers: [Int], configuration: ModelConfiguration) throws
        -> [Int: LifelongNormalizer] {
        guard let commitID else { return [:] }
        let names = Dictionary(uniqueKeysWithValues: layers.map { (TensorNaming.mlpOutputWeight(layer: $0), $0) })
        var out: [Int: LifelongNormalizer] = [:]
        for (tensor, record) in try lifelongStatistics(at: commitID, tensors: Set(names.keys)) {
            guard let layer = names[tensor] else { continue }
            out[layer] = try LifelongNormalizer(record: record, configuration: configuration, commit: commitID)
        }
        return out
    }

    /// Every layer with UltraEdit statistics anywhere in the lineage of `commitID`.
    package func layersWithLifelongStatistics(inLineageOf commitID: String) throws -> Set<Int> {
        var layers = Set<Int>()
        for record in try lineage(of: commitID) { for row in try lifelongStatistics(of: record.id) { layers.insert(row.layer) } }
        return layers
    }
}
