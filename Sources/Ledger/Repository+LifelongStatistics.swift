// UltraEdit's running feature statistics (schema 005_ultraedit_statistics.sql): encoding a
// commit's rows, writing them inside the commit's transaction, reading them back verified, and
// finding the statistics in force at a commit. What the statistics mean and how they are updated
// is the solver's business (Solvers/LifelongNormalizer.swift); here they are opaque numbers.
import Foundation
import Tensors

extension Repository {
    /// The checksum covers the count and the key dimension as well as the two vectors, so a row
    /// whose count was changed no longer verifies.
    static func lifelongStatisticsTag(count: Int, keyDimension: Int) -> String {
        "mledit-lifelong-1/count=\(count)/keys=\(keyDimension)"
    }

    static func encodeLifelongStatistics(_ record: LifelongStatisticsRecord) throws
        -> (LifelongStatisticsRecord, [[UInt8]], String) {
        let object = "UltraEdit statistics \(record.tensor)"
        func invalid(_ reason: String) -> LedgerError { .invalidCommit(reason: "\(object): \(reason)") }
        if record.tensor.isEmpty || record.layer < 0 { throw invalid("empty tensor name or negative layer \(record.layer)") }
        if record.count < 0 { throw invalid("negative count \(record.count)") }
        if record.keyDimension <= 0 || record.mean.count <= record.keyDimension {
            throw invalid("\(record.mean.count) entries for a key dimension of \(record.keyDimension)")
        }
        if record.variance.count != record.mean.count {
            throw invalid("\(record.mean.count) means but \(record.variance.count) variances")
        }
        if let bad = record.variance.firstIndex(where: { $0 < 0 }) { throw invalid("variance \(bad) is negative") }
        let tag = lifelongStatisticsTag(count: record.count, keyDimension: record.keyDimension)
        let (blobs, checksum) = try MatrixBlob.encode(
            [Matrix(rows: 1, cols: record.mean.count, values: record.mean),
             Matrix(rows: 1, cols: record.variance.count, values: record.variance)],
            tag: tag, object: object)
        return (record, blobs, checksum)
    }

    /// Inside the commit's transaction.
    func insertLifelongStatistics(_ record: LifelongStatisticsRecord, blobs: [[UInt8]], checksum: String, commitID: String) throws {
        try database.execute("""
            INSERT INTO ultraedit_statistics (commit_id, tensor, layer, count, key_dimension, dimension, sha256, mean, variance)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """, [.text(commitID), .text(record.tensor), .integer(Int64(record.layer)), .integer(Int64(record.count)),
                  .integer(Int64(record.keyDimension)), .integer(Int64(record.mean.count)), .text(checksum),
                  .blob(blobs[0]), .blob(blobs[1])])
    }

    /// The (tensor, layer, checksum) of each row of commit `id`, for its canonical document.
    func lifelongStatisticsKeys(of id: String) throws -> [CommitIdentity.DeltaKey] {
        try database.query("SELECT tensor, layer, sha256 FROM ultraedit_statistics WHERE commit_id = ?1 ORDER BY tensor",
                           [.text(id)]) { row in
            CommitIdentity.DeltaKey(tensor: try row.string(0), layer: try row.int(1), checksum: try row.string(2))
        }
    }

    /// The statistics commit `id` stores, verified against their checksums, by tensor name.
    /// - Throws: `LedgerError.checksumMismatch`, `.malformedBlob`.
    public func lifelongStatistics(of id: String) throws -> [LifelongStatisticsRecord] {
        try database.query("""
            SELECT tensor, layer, count, key_dimension, dimension, sha256, mean, variance
            FROM ultraedit_statistics WHERE commit_id = ?1 ORDER BY tensor
            """, [.text(id)]) { row in
            let tensor = try row.string(0)
            let count = try row.int(2), keyDimension = try row.int(3), dimension = try row.int(4)
            let vectors = try MatrixBlob.decode([try row.blob(6), try row.blob(7)], shapes: [(1, dimension), (1, dimension)],
                                                tag: Self.lifelongStatisticsTag(count: count, keyDimension: keyDimension),
                                                checksum: try row.string(5),
                                                object: "UltraEdit statistics \(id.prefix(12))/\(tensor)")
            return LifelongStatisticsRecord(tensor: tensor, layer: try row.int(1), count: count, keyDimension: keyDimension,
                                            mean: vectors[0].values, variance: vectors[1].values)
        }
    }

    /// The statistics in force at commit `id` for each tensor in `tensors`: those of the nearest
    /// commit of its lineage (itself included) that stores a row for the tensor. A tensor no
    /// commit has statistics for is absent from the result.
    /// - Throws: `.commitNotFound`, and as `lifelongStatistics(of:)`.
    public func lifelongStatistics(at id: String, tensors: Set<String>) throws -> [String: LifelongStatisticsRecord] {
        var found: [String: LifelongStatisticsRecord] = [:]
        // Only commits that store rows are read, newest first.
        let withRows = Set(try database.query("SELECT DISTINCT commit_id FROM ultraedit_statistics") { try $0.string(0) })
        if withRows.isEmpty { return found }
        for commitID in try lineageIDs(from: id) where withRows.contains(commitID) {
            for record in try lifelongStatistics(of: commitID) where tensors.contains(record.tensor) && found[record.tensor] == nil {
                found[record.tensor] = record
            }
            if found.count == tensors.count { break }
        }
        return found
    }
}
