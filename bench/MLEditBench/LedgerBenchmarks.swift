// Ledger benchmarks: what a fact costs in storage (low-rank deltas of SmolLM2's MLP output shape,
// 576 × 1536 on 5 layers, against a full checkpoint per version), and how long building a
// version's weights takes as its lineage grows (1 to 1000 commits of random rank-1 deltas).
// Data are random Gaussian factors: they compress like real deltas (f16 noise), not better.
import Foundation
import Ledger
import Models
import Tensors

extension Benchmarks {
    static let smolRows = 576, smolCols = 1536, smolLayers = [3, 4, 5, 6, 7]

    static func smolTensor(_ layer: Int) -> String { "blk.\(layer).ffn_down.weight" }

    /// A fresh repository in a temporary folder, with a stand-in base model record.
    static func scratchRepository() throws -> (Repository, URL) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-bench-\(UUID().uuidString)")
        let repository = try Repository.create(at: root, baseModel: BaseModelDraft(
            path: "/bench/base.gguf", sha256: SHA256.hash("bench base").hex, format: "gguf", architecture: "llama",
            configuration: .object(["hidden_size": .integer(576), "intermediate_size": .integer(1536)])))
        return (repository, root)
    }

    /// An edit of `facts` facts: a rank-`facts` delta on each of the 5 layers, and (optionally)
    /// the keys and target values it was solved from.
    static func smolDraft(parent: String?, facts: Int, index: Int, vectors: Bool, generator: inout SeededGenerator) -> CommitDraft {
        let deltas = smolLayers.map { layer in
            DeltaInput(tensor: smolTensor(layer), layer: layer,
                       u: Matrix<Double>.gaussian(rows: smolRows, cols: facts, generator: &generator).map { $0 * 1e-2 },
                       v: Matrix<Double>.gaussian(rows: smolCols, cols: facts, generator: &generator).map { $0 * 1e-2 })
        }
        let editVectors = vectors ? smolLayers.map { layer in
            EditVectors(tensor: smolTensor(layer), layer: layer,
                        keys: Matrix<Double>.gaussian(rows: smolCols, cols: facts, generator: &generator),
                        values: Matrix<Double>.gaussian(rows: smolRows, cols: facts, generator: &generator))
        } : []
        let factList = (0..<facts).map { Fact(subject: "Subject \(index).\($0)", prompt: "{} is located in", targetNew: "City \($0)") }
        return CommitDraft(parentID: parent, baseModelID: 1, method: "memit", facts: factList, deltas: deltas,
                           editVectors: editVectors, message: "bench \(index)", author: "bench")
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    /// Stored bytes per fact for rank-n commits (n = 1, 10, 100 facts per commit), against a full
    /// checkpoint per version. Argument: the base checkpoint (its size is the comparison).
    static func ledgerStorage(_ arguments: [String]) throws -> [String: Any] {
        let checkpointBytes = fileSize(modelURL(arguments).path)
        let denseF16Bytes = smolLayers.count * smolRows * smolCols * 2
        var generator = SeededGenerator(seed: 11)
        var rows: [[String: Any]] = []
        for (rank, commits) in [(1, 20), (10, 4), (100, 2)] {
            let (repository, root) = try scratchRepository()
            defer { try? FileManager.default.removeItem(at: root) }
            var parent: String?
            var deltaBytes = 0, vectorBytes = 0
            for index in 0..<commits {
                let record = try repository.writeCommit(smolDraft(parent: parent, facts: rank, index: index, vectors: true, generator: &generator))
                deltaBytes += try repository.deltas(of: record.id).map(\.storedBytes).reduce(0, +)
                vectorBytes += Int(try repository.database.scalarInt(
                    "SELECT sum(length(keys) + length(target_values)) FROM edit_vectors WHERE commit_id = ?1", [.text(record.id)]) ?? 0)
                parent = record.id
            }
            try repository.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            let ledgerBytes = fileSize(repository.ledgerURL.path)
            let facts = rank * commits
            rows.append([
                "facts_per_commit": rank, "commits": commits,
                "delta_bytes_per_fact": Double(deltaBytes) / Double(facts),
                "edit_vector_bytes_per_fact": Double(vectorBytes) / Double(facts),
                "ledger_file_bytes_per_fact": Double(ledgerBytes) / Double(facts),
                "full_checkpoint_bytes_per_fact": Double(checkpointBytes) / Double(rank),
                "dense_f16_delta_bytes_per_fact": Double(denseF16Bytes) / Double(rank),
            ])
        }
        return ["shape": "\(smolRows)x\(smolCols) x \(smolLayers.count) layers", "checkpoint_bytes": checkpointBytes,
                "by_rank": rows]
    }

    /// Time to build the 5 edited tensors of the tip of a lineage of 1, 10, 100 and 1000 commits
    /// (random rank-1 deltas on each): read and decode the deltas, then one GEMM per tensor.
    /// Also the time to write the commits, and to load the base model for comparison.
    static func materialize(_ arguments: [String]) throws -> [String: Any] {
        let (repository, root) = try scratchRepository()
        defer { try? FileManager.default.removeItem(at: root) }
        var generator = SeededGenerator(seed: 5)
        let base = smolLayers.map { _ in Matrix<Float>.gaussian(rows: smolRows, cols: smolCols, generator: &generator) }
        var parent: String?
        var written = 0
        var rows: [[String: Any]] = []
        var writeSeconds = 0.0
        for length in [1, 10, 100, 1000] {
            let (_, seconds) = try Measure.seconds {
                while written < length {
                    parent = try repository.writeCommit(smolDraft(parent: parent, facts: 1, index: written, vectors: false, generator: &generator)).id
                    written += 1
                }
            }
            writeSeconds += seconds
            guard let tip = parent else { continue }
            var decodeSeconds = 0.0, gemmSeconds = 0.0
            let (_, totalSeconds) = try Measure.seconds {
                for (i, layer) in smolLayers.enumerated() {
                    let (deltas, decode) = try Measure.seconds { try repository.decodedDeltas(tensor: smolTensor(layer), at: tip) }
                    let (_, gemm) = try Measure.seconds { try Materializer.apply(base: base[i], deltas: deltas, tensor: smolTensor(layer)) }
                    decodeSeconds += decode
                    gemmSeconds += gemm
                }
            }
            let (_, lastCommitSeconds) = try Measure.seconds {
                _ = try repository.storeCommit(smolDraft(parent: tip, facts: 1, index: 1_000_000 + length, vectors: false, generator: &generator))
            }
            rows.append(["commits": length, "seconds": totalSeconds, "read_decode_seconds": decodeSeconds, "gemm_seconds": gemmSeconds,
                         "commit_write_seconds_at_this_length": lastCommitSeconds])
        }
        var out: [String: Any] = ["by_lineage_length": rows, "write_1000_commits_seconds": writeSeconds,
                                  "ledger_bytes": fileSize(repository.ledgerURL.path)]
        let model = modelURL(arguments)
        if FileManager.default.fileExists(atPath: model.path) {
            let (_, loadSeconds) = try Measure.seconds { _ = try ModelLoader.load(url: model) }
            out["base_model_load_seconds"] = loadSeconds
        }
        return out
    }
}
