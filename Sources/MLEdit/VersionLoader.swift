// Loading a version of a repository's model:
// the base checkpoint (checked against its recorded SHA-256) with the lineage's low-rank deltas
// added, one GEMM per edited tensor.
import Foundation
import Ledger
import Models
import Tensors

package enum VersionLoader {
    /// Refuses a lineage whose deltas do not fit the model: a layer it lacks, a tensor other than
    /// the layer's MLP output projection, or a shape other than that projection's.
    /// - Parameter deltas: tensor → its deltas' (layer, rows, cols).
    package static func checkFits(_ deltas: [String: [(layer: Int, rows: Int, cols: Int)]], configuration: ModelConfiguration,
                          commitID: String) throws {
        let shape = (configuration.hiddenSize, configuration.intermediateSize)
        for (tensor, entries) in deltas {
            for entry in entries {
                guard (0..<configuration.layerCount).contains(entry.layer) else {
                    throw MLEditError(.damaged, "the history of \(commitID.prefix(12)) edits layer \(entry.layer) (\(tensor)), which the model (\(configuration.layerCount) layers) does not have; run 'mledit fsck'")
                }
                guard tensor == TensorNaming.mlpOutputWeight(layer: entry.layer), entry.rows == shape.0, entry.cols == shape.1 else {
                    throw MLEditError(.damaged, "the history of \(commitID.prefix(12)) has a \(entry.rows)×\(entry.cols) delta of \(tensor) (layer \(entry.layer)); the model's edit tensor there is \(TensorNaming.mlpOutputWeight(layer: entry.layer)), \(shape.0)×\(shape.1); run 'mledit fsck'")
                }
            }
        }
    }

    /// The base model record of a repository at a revision, with its file checked.
    package static func baseModel(of repository: Repository, commitID: String?) throws -> BaseModelRecord {
        let record: BaseModelRecord
        if let commitID {
            record = try repository.baseModel(id: repository.commit(commitID).baseModelID)
        } else {
            guard let first = try repository.baseModels().last else {
                throw MLEditError(.damaged, "\(repository.ledgerURL.path): the ledger records no base model")
            }
            record = first
        }
        try verify(record)
        return record
    }

    /// Checks that the base model file is where the ledger says, with the digest it recorded.
    package static func verify(_ record: BaseModelRecord) throws {
        let url = URL(fileURLWithPath: record.path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MLEditError(.notFound, "base model \(record.path) is missing; if it moved, run 'mledit init --relink NEW_PATH'")
        }
        let digest = try SHA256.hash(fileAt: url).hex
        guard digest == record.sha256 else {
            throw MLEditError(.damaged, "base model \(record.path) has SHA-256 \(digest.prefix(12))…, the ledger recorded \(record.sha256.prefix(12))…: the file was replaced or truncated")
        }
    }

    /// The model at `revision` ("HEAD" on an unborn branch gives the base model).
    package static func load(repository: Repository, revision: String, session: Session) throws -> LoadedModel {
        let commitID = try repository.commitID(revision: revision)
        let context = try EditContext.load(repository: repository, parentID: commitID, session: session)
        return LoadedModel(model: context.model, tokenizer: context.tokenizer, url: URL(fileURLWithPath: context.baseModel.path),
                           version: commitID)
    }

    /// Replaces every edited tensor of `model` with base + Σ U Vᵀ over the lineage of `commitID`.
    /// `base` holds the unedited weights when the model already carries other edits.
    package static func applyEdits(of commitID: String, repository: Repository, to model: any TransformerModel,
                           base: [Int: Matrix<Float>]? = nil) throws {
        let lineage = try repository.lineageDecodedDeltas(at: commitID)
        try checkFits(lineage.mapValues { entry in entry.deltas.map { (entry.layer, $0.rows, $0.cols) } },
                      configuration: model.configuration, commitID: commitID)
        for (tensor, lineage) in lineage {
            let original = base?[lineage.layer] ?? model.mlpOutputWeight(layer: lineage.layer)
            model.setMLPOutputWeight(layer: lineage.layer, try Materializer.apply(base: original, deltas: lineage.deltas, tensor: tensor))
        }
    }
}

extension Repository {
    /// The commit `revision` names; nil for "HEAD" on an unborn branch.
    package func commitID(revision: String) throws -> String? {
        revision == "HEAD" ? try head().commitID : try resolve(revision)
    }
}
