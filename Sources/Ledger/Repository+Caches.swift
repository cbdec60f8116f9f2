// Derived data the ledger caches: preservation statistics per (base model, tensor, corpus,
// token count) and evaluation metrics per (commit, dataset). Both can be dropped and rebuilt.
import Foundation
import Tensors

extension Repository {
    /// Stores (or replaces) a square Float64 matrix of preservation statistics, lossless.
    /// - Throws: `LedgerError.invalidMatrix` for a non-square or non-finite matrix,
    ///   `.baseModelNotFound`, `.sqlite`.
    public func putPreservationStatistics(_ matrix: Matrix<Double>, for key: PreservationKey) throws {
        try putPreservationStatistics([(matrix, key)])
    }

    /// Caches several matrices in one transaction; they are encoded (compressed and hashed) side
    /// by side on `ComputeThreads`, one per piece.
    public func putPreservationStatistics(_ entries: [(matrix: Matrix<Double>, key: PreservationKey)]) throws {
        if entries.isEmpty { return }
        for (matrix, key) in entries {
            guard matrix.rows == matrix.cols, matrix.rows > 0 else {
                throw LedgerError.invalidMatrix(object: "preservation statistics \(key.tensor)", reason: "must be square and non-empty, is \(matrix.rows)×\(matrix.cols)")
            }
            guard key.tokenCount > 0 else {
                throw LedgerError.invalidMatrix(object: "preservation statistics \(key.tensor)", reason: "token count \(key.tokenCount) must be positive")
            }
        }
        let encoded = ComputeThreads.map(entries.count) { i in
            Result { try MatrixBlob.encode([entries[i].matrix], tag: "mledit-matrix-1", object: "preservation statistics \(entries[i].key.tensor)") }
        }
        let blobs = try encoded.map { try $0.get() }
        try database.transaction {
            for ((matrix, key), (blob, checksum)) in zip(entries, blobs) {
                _ = try baseModel(id: key.baseModelID)
                try database.execute("""
                    INSERT OR REPLACE INTO preservation_stats
                        (base_model_id, tensor, corpus_digest, token_count, dimension, sha256, blob, created_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                    """, [.integer(key.baseModelID), .text(key.tensor), .text(key.corpusDigest), .integer(Int64(key.tokenCount)),
                          .integer(Int64(matrix.rows)), .text(checksum), .blob(blob[0]), .text(Repository.timestamp())])
            }
        }
    }

    /// The cached matrix for `key`, verified; nil when not cached.
    /// - Throws: `LedgerError.checksumMismatch`, `.malformedBlob`.
    public func preservationStatistics(_ key: PreservationKey) throws -> Matrix<Double>? {
        guard let (dimension, checksum, blob) = try database.queryFirst("""
            SELECT dimension, sha256, blob FROM preservation_stats
            WHERE base_model_id = ?1 AND tensor = ?2 AND corpus_digest = ?3 AND token_count = ?4
            """, [.integer(key.baseModelID), .text(key.tensor), .text(key.corpusDigest), .integer(Int64(key.tokenCount))], {
                (try $0.int(0), try $0.string(1), try $0.blob(2))
            }) else { return nil }
        return try MatrixBlob.decode([blob], shapes: [(dimension, dimension)], tag: "mledit-matrix-1", checksum: checksum,
                                    object: "preservation statistics \(key.tensor) (base #\(key.baseModelID))")[0]
    }

    /// Keys of every cached statistics matrix of a base model.
    public func preservationStatisticsKeys(baseModelID: Int64) throws -> [PreservationKey] {
        try database.query("""
            SELECT base_model_id, tensor, corpus_digest, token_count FROM preservation_stats
            WHERE base_model_id = ?1 ORDER BY tensor, corpus_digest, token_count
            """, [.integer(baseModelID)]) {
            PreservationKey(baseModelID: try $0.int64(0), tensor: try $0.string(1), corpusDigest: try $0.string(2), tokenCount: try $0.int(3))
        }
    }

    /// Stores (or replaces) the metrics of `commitID` on the dataset `datasetDigest`.
    /// - Throws: `LedgerError.invalidJSON` when `metrics` is not an object, `.commitNotFound`.
    public func putEvaluation(commit commitID: String, datasetDigest: String, metrics: JSONValue) throws {
        guard metrics.objectValue != nil else { throw LedgerError.invalidJSON(field: "metrics", reason: "must be a JSON object") }
        let text = try metrics.canonicalText()
        try database.transaction {
            try requireCommit(commitID)
            try database.execute("""
                INSERT OR REPLACE INTO evaluations (commit_id, dataset_digest, metrics, created_at) VALUES (?1, ?2, ?3, ?4)
                """, [.text(commitID), .text(datasetDigest), .text(text), .text(Repository.timestamp())])
        }
    }

    /// Stored evaluations, of one commit or (nil) of all, by commit then dataset.
    public func evaluations(of commitID: String? = nil) throws -> [EvaluationRecord] {
        let map: (Row) throws -> EvaluationRecord = {
            EvaluationRecord(commitID: try $0.string(0), datasetDigest: try $0.string(1),
                             metrics: try JSONValue(parsing: try $0.string(2), field: "evaluations.metrics"), createdAt: try $0.string(3))
        }
        if let commitID {
            return try database.query("SELECT commit_id, dataset_digest, metrics, created_at FROM evaluations WHERE commit_id = ?1 ORDER BY dataset_digest",
                                      [.text(commitID)], map)
        }
        return try database.query("SELECT commit_id, dataset_digest, metrics, created_at FROM evaluations ORDER BY commit_id, dataset_digest", [], map)
    }

    /// The metrics of one commit on one dataset, if stored.
    public func evaluation(commit commitID: String, datasetDigest: String) throws -> EvaluationRecord? {
        try evaluations(of: commitID).first { $0.datasetDigest == datasetDigest }
    }
}
