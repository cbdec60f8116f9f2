// Lineage queries: the commits from a revision back to its root, the facts in force in a
// lineage (reverts taken out, newer facts superseding older ones with the same subject and
// prompt), merge bases, and the deltas a version's weights are made of.
import Foundation

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

    /// The commits whose facts are in force at the tip of `lineage` (ids newest first): every
    /// edit and rebase commit, minus those taken out by a revert. Reverting a revert puts the
    /// originally reverted commit back.
    func activeCommitIDs(lineage: [String]) throws -> Set<String> {
        var active = Set<String>()
        var kinds: [String: (CommitKind, String?)] = [:]
        let statement = try database.prepare("SELECT kind, reverted_commit_id FROM commits WHERE id = ?1")
        for id in lineage {
            try statement.bind([.text(id)])
            guard try statement.step() else { throw LedgerError.commitNotFound(id) }
            let text = try statement.row.string(0)
            guard let kind = CommitKind(rawValue: text) else {
                throw LedgerError.badColumn(table: "commits", column: "kind", reason: "unknown kind '\(text)'")
            }
            kinds[id] = (kind, try statement.row.optionalString(1))
        }
        func apply(_ id: String, positive: Bool, depth: Int) throws {
            guard depth < 10_000 else { throw LedgerError.invalidCommit(reason: "revert chain too deep at \(id)") }
            guard let (kind, reverted) = kinds[id] else {
                throw LedgerError.invalidCommit(reason: "reverted commit \(id.prefix(12)) is not in the lineage")
            }
            switch kind {
            case .edit, .rebase:
                if positive { active.insert(id) } else { active.remove(id) }
            case .revert:
                guard let reverted else { throw LedgerError.badColumn(table: "commits", column: "reverted_commit_id", reason: "revert \(id) names no commit") }
                try apply(reverted, positive: !positive, depth: depth + 1)
            }
        }
        for id in lineage.reversed() { try apply(id, positive: true, depth: 0) }
        return active
    }

    /// The facts in force at the tip of `lineage` (ids newest first), oldest first; `supersedes`
    /// names the fact each replaced within this lineage.
    func activeFacts(lineage: [String]) throws -> [FactRecord] {
        let active = try activeCommitIDs(lineage: lineage)
        var order: [String] = []
        var byKey: [String: FactRecord] = [:]
        for id in lineage.reversed() where active.contains(id) {
            for var record in try facts(of: id) {
                let key = record.fact.subject + "\u{0}" + record.fact.prompt
                if let older = byKey[key] {
                    record.supersedes = older.reference
                    order.removeAll { $0 == key }
                } else {
                    record.supersedes = nil
                }
                byKey[key] = record
                order.append(key)
            }
        }
        return order.compactMap { byKey[$0] }
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
    public func decodedDeltas(tensor: String, at revision: String) throws -> [LowRankDelta] {
        try lineageDecodedDeltas(at: revision, tensor: tensor)[tensor]?.deltas ?? []
    }

    /// Per edited tensor (or only `tensor`), its layer and the decoded, checksum-verified deltas
    /// of the lineage of `revision`, oldest first: everything a version's weights need, read in
    /// one query.
    /// - Throws: revision errors, `.brokenHistory` (see `verifiedLineageIDs`), `.checksumMismatch`,
    ///   `.malformedBlob` (naming the commit and tensor), `.badColumn`.
    public func lineageDecodedDeltas(at revision: String, tensor: String? = nil) throws -> [String: (layer: Int, deltas: [LowRankDelta])] {
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
        var out: [String: (layer: Int, deltas: [LowRankDelta])] = [:]
        for (commitID, name, layer, encoded) in rows {
            let delta = try DeltaCodec.decode(encoded, object: "delta \(commitID.prefix(12))/\(name)")
            out[name, default: (layer, [])].deltas.append(delta)
        }
        return out
    }
}
