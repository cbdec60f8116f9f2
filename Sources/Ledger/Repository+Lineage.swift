// Lineage queries: the commits from a revision back to its root, the facts in force in a
// lineage (by the rules of `Lineage`: reverts taken out, newer facts superseding older ones
// with the same identity), merge bases, and the deltas a version's weights are made of.
import Foundation
import Tensors

extension Repository {
    /// Commit ids from `id` back to the root, `id` first.
    /// - Throws: `LedgerError.commitNotFound`; `.invalidCommit` on a parent cycle.
    func lineageIDs(from id: String) throws -> [String] {
        // One recursive query instead of one round trip per ancestor.
        let ids = try database.query("""
            WITH RECURSIVE chain(id, parent_id, depth) AS (
                SELECT id, parent_id, 0 FROM commits WHERE id = ?1
                UNION ALL
                SELECT c.id, c.parent_id, chain.depth + 1 FROM commits c JOIN chain ON c.id = chain.parent_id
                WHERE chain.depth < 10000000
            )
            SELECT id FROM chain ORDER BY depth
            """, [.text(id)]) { try $0.string(0) }
        if ids.isEmpty { throw LedgerError.commitNotFound(id) }
        if Set(ids).count != ids.count { throw LedgerError.invalidCommit(reason: "parent cycle through \(id)") }
        return ids
    }

    /// `lineageIDs(from:)` for a version whose weights are about to be used: the chain must reach
    /// a root (no parent missing) and every commit's id must recompute from its rows — which
    /// covers a missing or added delta row, a changed checksum, a rewired parent and edited facts.
    /// - Throws: `LedgerError.brokenHistory` naming the first bad commit.
    public func verifiedLineageIDs(from id: String) throws -> [String] {
        let ids = try lineageIDs(from: id)
        for commitID in ids {
            let computed: String
            do {
                computed = try recomputeID(of: commitID)
            } catch let error as LedgerError {
                throw LedgerError.brokenHistory(commit: commitID, reason: "its rows cannot be read (\(error))")
            }
            if computed != commitID {
                throw LedgerError.brokenHistory(commit: commitID, reason: "its content (facts, deltas or parent) no longer hashes to its id")
            }
        }
        if let oldest = ids.last, let parent = try commit(oldest).parentID {
            throw LedgerError.brokenHistory(commit: oldest, reason: "its parent \(parent.prefix(12)) is missing from the ledger")
        }
        return ids
    }

    /// The commits from `revision` back to the root, newest first.
    /// - Throws: revision errors (`resolve`), `.commitNotFound`.
    public func lineage(of revision: String) throws -> [CommitRecord] {
        try lineageIDs(from: try resolve(revision)).map { try commit($0) }
    }

    /// The facts in force at the tip of `lineage` (ids newest first), oldest first; `supersedes`
    /// names the fact each replaced within this lineage (see `Lineage`).
    /// - Throws: `.commitNotFound`, `.invalidCommit` for a revert outside the lineage.
    func activeFacts(lineage: [String]) throws -> [FactRecord] {
        let inForce = try Lineage.commitsInForce(try commits(lineage))
        return Lineage.factsInForce(try lineage.reversed().filter(inForce.contains).map { try facts(of: $0) })
    }

    /// The commits with ids `ids`, in that order, read through one prepared statement.
    /// - Throws: `.commitNotFound`.
    private func commits(_ ids: [String]) throws -> [CommitRecord] {
        let statement = try database.prepare("""
            SELECT \(Self.commitColumns) FROM commits c JOIN base_models b ON b.id = c.base_model_id WHERE c.id = ?1
            """)
        return try ids.map { id in
            try statement.bind([.text(id)])
            guard try statement.step() else { throw LedgerError.commitNotFound(id) }
            return try commitRecord(statement.row)
        }
    }

    /// The facts in force at `revision`, in the order they were written: facts of reverted
    /// commits are left out, and of several facts with the same subject and prompt only the newest
    /// remains, its `supersedes` naming the one it replaced (commit and ordinal).
    /// - Throws: revision errors, `.commitNotFound`.
    public func facts(inLineageOf revision: String) throws -> [FactRecord] {
        try activeFacts(lineage: lineageIDs(from: try resolve(revision)))
    }

    /// The newest commit that is an ancestor of both revisions (or either itself); nil when
    /// their lineages do not meet (e.g. different base models).
    /// - Throws: revision errors.
    public func mergeBase(_ a: String, _ b: String) throws -> String? {
        let ancestorsOfB = Set(try lineageIDs(from: try resolve(b)))
        return try lineageIDs(from: try resolve(a)).first { ancestorsOfB.contains($0) }
    }

    /// Whether `ancestor` is in the lineage of `descendant` (a commit is its own ancestor).
    public func isAncestor(_ ancestor: String, of descendant: String) throws -> Bool {
        try lineageIDs(from: try resolve(descendant)).contains(try resolve(ancestor))
    }

    /// Per edited tensor, the deltas of the lineage of `revision`, oldest first: the weights of
    /// the version are base + Σ U Vᵀ over each list (`Materializer.apply`).
    /// - Throws: revision errors, `.brokenHistory` (see `verifiedLineageIDs`).
    public func lineageDeltas(at revision: String) throws -> [String: [DeltaRecord]] {
        var out: [String: [DeltaRecord]] = [:]
        for id in try verifiedLineageIDs(from: try resolve(revision)).reversed() {
            for record in try deltas(of: id) { out[record.tensor, default: []].append(record) }
        }
        return out
    }

    /// The decoded deltas of one tensor along the lineage of `revision`, oldest first.
    /// - Throws: revision errors, `.checksumMismatch`, `.malformedBlob`.
    public func decodedDeltas(tensor: String, at revision: String) throws -> [LowRankDelta<Float>] {
        try lineageDecodedDeltas(at: revision, tensor: tensor)[tensor]?.deltas ?? []
    }

    /// Per edited tensor (or only `tensor`), its layer and the decoded, checksum-verified deltas
    /// of the lineage of `revision`, oldest first: everything a version's weights need, read in
    /// one query.
    /// - Throws: revision errors, `.brokenHistory` (see `verifiedLineageIDs`), `.checksumMismatch`,
    ///   `.malformedBlob` (naming the commit and tensor), `.badColumn`.
    public func lineageDecodedDeltas(at revision: String, tensor: String? = nil) throws -> [String: (layer: Int, deltas: [LowRankDelta<Float>])] {
        let tip = try resolve(revision)
        _ = try verifiedLineageIDs(from: tip)
        let rows = try database.query("""
            WITH RECURSIVE chain(id, parent_id, depth) AS (
                SELECT id, parent_id, 0 FROM commits WHERE id = ?1
                UNION ALL
                SELECT c.id, c.parent_id, chain.depth + 1 FROM commits c JOIN chain ON c.id = chain.parent_id
                WHERE chain.depth < 10000000
            )
            SELECT d.commit_id, d.tensor, d.layer, d.rows, d.cols, d.rank, d.dtype, d.norm, d.sha256, d.u_blob, d.v_blob
            FROM chain JOIN deltas d ON d.commit_id = chain.id
            WHERE ?2 IS NULL OR d.tensor = ?2
            ORDER BY chain.depth DESC, d.tensor
            """, [.text(tip), SQLValue(tensor)]) { row -> (String, String, Int, EncodedDelta) in
            let dtype = try row.string(6)
            guard let precision = DeltaPrecision(rawValue: dtype) else {
                throw LedgerError.badColumn(table: "deltas", column: "dtype", reason: "unknown dtype '\(dtype)'")
            }
            let encoded = EncodedDelta(rows: try row.int(3), cols: try row.int(4), rank: try row.int(5), precision: precision,
                                       norm: try row.double(7), checksum: try row.string(8), uBlob: try row.blob(9), vBlob: try row.blob(10))
            return (try row.string(0), try row.string(1), try row.int(2), encoded)
        }
        var out: [String: (layer: Int, deltas: [LowRankDelta<Float>])] = [:]
        for (commitID, name, layer, encoded) in rows {
            let delta = try DeltaCodec.decode(encoded, object: "delta \(commitID.prefix(12))/\(name)")
            out[name, default: (layer, [])].deltas.append(delta)
        }
        return out
    }
}
