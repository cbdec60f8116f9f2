// Commits: the content hash that names them, writing one (objects, facts, deltas, edit vectors,
// the ref move and its reflog row, all in one transaction, re-read and re-hashed before COMMIT),
// and reading commits, facts, deltas and edit vectors back.
import Foundation
import Tensors

/// How commit ids are computed: SHA-256 of a canonical JSON document (schema/001_init.sql,
/// table commits, lists its members). Time, author, message and efficacy are not part of it.
public enum CommitIdentity {
    /// One delta's contribution to the id.
    public struct DeltaKey: Sendable, Equatable {
        public var tensor: String
        public var layer: Int
        public var checksum: String
        public init(tensor: String, layer: Int, checksum: String) {
            self.tensor = tensor
            self.layer = layer
            self.checksum = checksum
        }
    }

    /// The canonical document's text.
    /// - Throws: `LedgerError.invalidJSON` for non-finite hyperparameters.
    public static func document(parentID: String?, baseModelDigest: String, kind: CommitKind, method: String,
                                hyperparameters: JSONValue, contextPrefixes: [String], facts: [Fact],
                                deltas: [DeltaKey], sourceCommitID: String?, revertedCommitID: String?,
                                lifelongStatistics: [DeltaKey] = []) throws -> String {
        let sortedDeltas = deltas.sorted { Array($0.tensor.utf8).lexicographicallyPrecedes(Array($1.tensor.utf8)) }
        var members: [String: JSONValue] = [
            "format": .string("mledit-commit-1"),
            "parent": parentID.map { .string($0) } ?? .null,
            "base_model": .string(baseModelDigest),
            "kind": .string(kind.rawValue),
            "method": .string(method),
            "hyperparameters": hyperparameters,
            "context_prefixes": .strings(contextPrefixes),
            "facts": .array(facts.map(\.canonicalJSON)),
            "deltas": .array(sortedDeltas.map {
                .object(["tensor": .string($0.tensor), "layer": .integer(Int64($0.layer)), "sha256": .string($0.checksum)])
            }),
            "source_commit": sourceCommitID.map { .string($0) } ?? .null,
            "reverted_commit": revertedCommitID.map { .string($0) } ?? .null,
        ]
        // Only UltraEdit commits carry statistics; leaving the member out otherwise keeps the ids
        // of every other commit what they were before migration 5.
        if !lifelongStatistics.isEmpty {
            let sorted = lifelongStatistics.sorted { Array($0.tensor.utf8).lexicographicallyPrecedes(Array($1.tensor.utf8)) }
            members["lifelong_statistics"] = .array(sorted.map {
                .object(["tensor": .string($0.tensor), "layer": .integer(Int64($0.layer)), "sha256": .string($0.checksum)])
            })
        }
        return try JSONValue.object(members).canonicalText()
    }

    /// The id: SHA-256 hex of `document(...)`.
    public static func id(parentID: String?, baseModelDigest: String, kind: CommitKind, method: String,
                          hyperparameters: JSONValue, contextPrefixes: [String], facts: [Fact],
                          deltas: [DeltaKey], sourceCommitID: String?, revertedCommitID: String?,
                          lifelongStatistics: [DeltaKey] = []) throws -> String {
        SHA256.hash(try document(parentID: parentID, baseModelDigest: baseModelDigest, kind: kind, method: method,
                                 hyperparameters: hyperparameters, contextPrefixes: contextPrefixes, facts: facts,
                                 deltas: deltas, sourceCommitID: sourceCommitID, revertedCommitID: revertedCommitID,
                                 lifelongStatistics: lifelongStatistics)).hex
    }
}

extension Repository {
    // MARK: Writing

    /// Writes a commit and moves a ref to it by compare-and-swap, in one transaction.
    ///
    /// The ref is branch `branch` (short or full name), or, when `branch` is nil, what HEAD
    /// follows (its branch, or HEAD itself when detached). It must currently point at
    /// `draft.parentID` (nil: unborn), otherwise nothing is written and `.refConflict` is thrown.
    /// Deltas are encoded before the write lock is taken. Writing content that already exists
    /// (same id) stores nothing new and moves the ref to the existing commit.
    /// - Throws: `LedgerError.refConflict`, `.invalidCommit`, `.invalidMatrix`, `.commitNotFound`,
    ///   `.sqlite`; on any error the ledger is unchanged.
    @discardableResult
    public func writeCommit(_ draft: CommitDraft, onBranch branch: String? = nil, reflogMessage: String? = nil) throws -> CommitRecord {
        let prepared = try prepare(draft)
        return try database.transaction {
            let ref = try branch.map { try Repository.branchRefName($0) } ?? resolveRefForWriting("HEAD")
            let current = try refRow(ref)?.commitID
            guard current == draft.parentID else {
                throw LedgerError.refConflict(ref: ref, expected: draft.parentID, actual: current)
            }
            let record = try insert(prepared)
            let summary = draft.message.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            let message = reflogMessage ?? "\(draft.kind == .edit ? "commit" : draft.kind.rawValue)\(draft.parentID == nil ? " (initial)" : ""): \(summary)"
            try casMove(ref, to: record.id, expecting: draft.parentID, message: message)
            return record
        }
    }

    /// Writes a commit without moving any ref (e.g. the commits of a rebase, before one
    /// `updateRef` moves the branch to the last of them).
    /// - Throws: as `writeCommit`, except `.refConflict`.
    @discardableResult
    public func storeCommit(_ draft: CommitDraft) throws -> CommitRecord {
        let prepared = try prepare(draft)
        return try database.transaction { try insert(prepared) }
    }

    /// A draft with its deltas and edit vectors encoded.
    struct PreparedCommit {
        var draft: CommitDraft
        var deltas: [(input: DeltaInput, encoded: EncodedDelta)]
        var vectors: [(input: EditVectors, storages: [MatrixBlob.Storage], blobs: [[UInt8]], checksum: String)]
        var targets: (input: EditTargets, blobs: [[UInt8]], checksum: String)?
        var statistics: [(input: LifelongStatisticsRecord, blobs: [[UInt8]], checksum: String)]
    }

    private func prepare(_ draft: CommitDraft) throws -> PreparedCommit {
        func invalid(_ reason: String) -> LedgerError { .invalidCommit(reason: reason) }
        if draft.method.isEmpty { throw invalid("method is empty") }
        if let parent = draft.parentID, !Repository.isFullID(parent) { throw invalid("parent '\(parent)' is not a full commit id") }
        switch draft.kind {
        case .edit:
            if draft.sourceCommitID != nil || draft.revertedCommitID != nil { throw invalid("an edit names no source or reverted commit") }
            if draft.facts.isEmpty { throw invalid("an edit commit needs at least one fact") }
        case .revert:
            if draft.revertedCommitID == nil || draft.sourceCommitID != nil { throw invalid("a revert names the reverted commit and no source") }
            if !draft.facts.isEmpty { throw invalid("a revert carries no facts of its own") }
        case .rebase:
            if draft.sourceCommitID == nil || draft.revertedCommitID != nil { throw invalid("a rebase names its source commit and no reverted commit") }
        }
        if let efficacy = draft.efficacy, !(efficacy.isFinite && efficacy >= 0 && efficacy <= 1) {
            throw invalid("efficacy \(efficacy) is outside 0…1")
        }
        for (i, fact) in draft.facts.enumerated() {
            if fact.subject.isEmpty || fact.prompt.isEmpty || fact.targetNew.isEmpty {
                throw invalid("fact \(i): subject, prompt and target_new must be non-empty")
            }
        }
        var seen = Set<String>()
        for d in draft.deltas where !seen.insert(d.tensor).inserted { throw invalid("two deltas for tensor \(d.tensor)") }
        seen.removeAll()
        for e in draft.editVectors where !seen.insert(e.tensor).inserted { throw invalid("two edit-vector sets for tensor \(e.tensor)") }
        var deltas: [(DeltaInput, EncodedDelta)] = []
        for d in draft.deltas {
            if d.tensor.isEmpty || d.layer < 0 { throw invalid("delta with empty tensor name or negative layer \(d.layer)") }
            deltas.append((d, try DeltaCodec.encode(u: d.u, v: d.v, precision: d.precision, object: "delta \(d.tensor)")))
        }
        var vectors: [(EditVectors, [MatrixBlob.Storage], [[UInt8]], String)] = []
        for e in draft.editVectors {
            if e.tensor.isEmpty || e.layer < 0 { throw invalid("edit vectors with empty tensor name or negative layer \(e.layer)") }
            if e.keys.cols != e.values.cols {
                throw invalid("edit vectors of \(e.tensor): \(e.keys.cols) key columns but \(e.values.cols) value columns")
            }
            // Keys rounded to column blocks of signed bytes by the caller are stored that way.
            let storages = [MatrixBlob.narrowestExactStorage(e.keys, allowingQ8: true), MatrixBlob.narrowestExactStorage(e.values)]
            let (blobs, checksum) = try MatrixBlob.encode([e.keys, e.values], storages: storages, tag: "mledit-vectors-1",
                                                          object: "edit vectors \(e.tensor)")
            vectors.append((e, storages, blobs, checksum))
        }
        var targets: (EditTargets, [[UInt8]], String)?
        if let t = draft.editTargets {
            if t.layer < 0 || t.values.rows == 0 { throw invalid("edit targets with negative layer \(t.layer) or no rows") }
            if t.values.cols != draft.facts.count {
                throw invalid("edit targets have \(t.values.cols) columns for \(draft.facts.count) facts")
            }
            let (blobs, checksum) = try MatrixBlob.encode([t.values], tag: "mledit-targets-1", object: "edit targets")
            targets = (t, blobs, checksum)
        }
        seen.removeAll()
        var statistics: [(LifelongStatisticsRecord, [[UInt8]], String)] = []
        for record in draft.lifelongStatistics {
            if !seen.insert(record.tensor).inserted { throw invalid("two sets of UltraEdit statistics for tensor \(record.tensor)") }
            statistics.append(try Self.encodeLifelongStatistics(record))
        }
        return PreparedCommit(draft: draft, deltas: deltas, vectors: vectors, targets: targets, statistics: statistics)
    }

    /// Inside a transaction: checks references, inserts the objects (unless the id exists),
    /// then re-reads and re-hashes them.
    private func insert(_ prepared: PreparedCommit) throws -> CommitRecord {
        let draft = prepared.draft
        let base = try baseModel(id: draft.baseModelID)
        if let parentID = draft.parentID {
            let parent = try commit(parentID)
            if parent.baseModelID != draft.baseModelID {
                throw LedgerError.invalidCommit(reason: "parent \(parentID.prefix(12)) is on base model #\(parent.baseModelID), the draft on #\(draft.baseModelID)")
            }
        }
        let parentLineage: [String] = try draft.parentID.map { try self.lineageIDs(from: $0) } ?? []
        if let reverted = draft.revertedCommitID, !parentLineage.contains(reverted) {
            throw LedgerError.invalidCommit(reason: "reverted commit \(reverted.prefix(12)) is not in the parent's lineage")
        }
        if let source = draft.sourceCommitID { try requireCommit(source) }
        let keys = prepared.deltas.map { CommitIdentity.DeltaKey(tensor: $0.input.tensor, layer: $0.input.layer, checksum: $0.encoded.checksum) }
        let statisticsKeys = prepared.statistics.map {
            CommitIdentity.DeltaKey(tensor: $0.input.tensor, layer: $0.input.layer, checksum: $0.checksum)
        }
        let id = try CommitIdentity.id(parentID: draft.parentID, baseModelDigest: base.sha256, kind: draft.kind, method: draft.method,
                                       hyperparameters: draft.hyperparameters, contextPrefixes: draft.contextPrefixes,
                                       facts: draft.facts, deltas: keys, sourceCommitID: draft.sourceCommitID,
                                       revertedCommitID: draft.revertedCommitID, lifelongStatistics: statisticsKeys)
        if try database.scalarInt("SELECT 1 FROM commits WHERE id = ?1", [.text(id)]) != nil {
            return try commit(id)
        }
        try database.execute("""
            INSERT INTO commits (id, parent_id, base_model_id, kind, method, hyperparameters, context_prefixes,
                                 message, author, created_at, source_commit_id, reverted_commit_id, efficacy, verification)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
            """, [.text(id), SQLValue(draft.parentID), .integer(draft.baseModelID), .text(draft.kind.rawValue),
                  .text(draft.method), .text(try draft.hyperparameters.canonicalText()),
                  .text(try JSONValue.strings(draft.contextPrefixes).canonicalText()), .text(draft.message),
                  .text(draft.author), .text(draft.createdAt ?? Repository.timestamp()), SQLValue(draft.sourceCommitID),
                  SQLValue(draft.revertedCommitID), SQLValue(draft.efficacy),
                  SQLValue(try draft.verification.map { try $0.canonicalText() })])
        // Only a fact whose subject and prompt already occur in the parent's lineage can supersede
        // one; the facts in force are worked out only then (an indexed lookup per new fact
        // instead of reading the whole lineage's facts on every commit).
        var superseded = [FactReference?](repeating: nil, count: draft.facts.count)
        if draft.parentID != nil, try sharesSubjectAndPrompt(draft.facts, with: Set(parentLineage)) {
            superseded = Lineage.superseded(by: draft.facts, inForce: try activeFacts(lineage: parentLineage))
        }
        for (ordinal, (fact, old)) in zip(draft.facts, superseded).enumerated() {
            try database.execute("""
                INSERT INTO facts (commit_id, ordinal, subject, prompt, target_new, target_true, paraphrases, neighborhood,
                                   supersedes_commit_id, supersedes_ordinal)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                """, [.text(id), .integer(Int64(ordinal)), .text(fact.subject), .text(fact.prompt), .text(fact.targetNew),
                      SQLValue(fact.targetTrue), .text(try JSONValue.strings(fact.paraphrases).canonicalText()),
                      .text(try JSONValue.strings(fact.neighborhood).canonicalText()), SQLValue(old?.commitID),
                      SQLValue(old?.ordinal)])
        }
        for (input, encoded) in prepared.deltas {
            try database.execute("""
                INSERT INTO deltas (commit_id, tensor, layer, rows, cols, rank, dtype, norm, sha256, u_blob, v_blob, stored_bytes)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                """, [.text(id), .text(input.tensor), .integer(Int64(input.layer)), .integer(Int64(encoded.rows)),
                      .integer(Int64(encoded.cols)), .integer(Int64(encoded.rank)), .text(encoded.precision.rawValue),
                      .real(encoded.norm), .text(encoded.checksum), .blob(encoded.uBlob), .blob(encoded.vBlob),
                      .integer(Int64(encoded.storedBytes))])
        }
        for vector in prepared.vectors {
            let input = vector.input
            let shape: [SQLValue] = [.integer(Int64(input.keys.rows)), .integer(Int64(input.keys.cols)),
                                     .integer(Int64(input.values.rows)), .integer(Int64(input.values.cols))]
            let columns: [SQLValue] = [.text(id), .text(input.tensor), .integer(Int64(input.layer))] + shape
                + [.text(vector.checksum), .blob(vector.blobs[0]), .blob(vector.blobs[1]),
                   .text(vector.storages[0].rawValue), .text(vector.storages[1].rawValue)]
            try database.execute("""
                INSERT INTO edit_vectors (commit_id, tensor, layer, key_rows, key_cols, value_rows, value_cols, sha256, keys,
                                          target_values, key_dtype, value_dtype)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                """, columns)
        }
        if let (input, blobs, checksum) = prepared.targets {
            try database.execute("""
                INSERT INTO edit_targets (commit_id, layer, rows, cols, sha256, targets) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                """, [.text(id), .integer(Int64(input.layer)), .integer(Int64(input.values.rows)),
                      .integer(Int64(input.values.cols)), .text(checksum), .blob(blobs[0])])
        }
        for (input, blobs, checksum) in prepared.statistics {
            try insertLifelongStatistics(input, blobs: blobs, checksum: checksum, commitID: id)
        }
        // Re-read what was written and check it before COMMIT.
        for problem in try verifyCommit(id) {
            throw LedgerError.invalidCommit(reason: "re-reading the new commit: \(problem.description)")
        }
        return try commit(id)
    }

    /// Whether any of `facts` has the subject and prompt of a fact written by one of `commits`.
    private func sharesSubjectAndPrompt(_ facts: [Fact], with commits: Set<String>) throws -> Bool {
        let statement = try database.prepare("SELECT commit_id FROM facts WHERE subject = ?1 AND prompt = ?2")
        for fact in facts {
            try statement.bind([.text(fact.subject), .text(fact.prompt)])
            while try statement.step() {
                if commits.contains(try statement.row.string(0)) { return true }
            }
        }
        return false
    }

    // MARK: Reading

    static let commitColumns = """
        c.id, c.parent_id, c.base_model_id, b.sha256, c.kind, c.method, c.hyperparameters, c.context_prefixes,
        c.message, c.author, c.created_at, c.source_commit_id, c.reverted_commit_id, c.efficacy, c.verification
        """

    func commitRecord(_ row: Row) throws -> CommitRecord {
        let kindText = try row.string(4)
        guard let kind = CommitKind(rawValue: kindText) else {
            throw LedgerError.badColumn(table: "commits", column: "kind", reason: "unknown kind '\(kindText)'")
        }
        return CommitRecord(
            id: try row.string(0), parentID: try row.optionalString(1), baseModelID: try row.int64(2),
            baseModelDigest: try row.string(3), kind: kind, method: try row.string(5),
            hyperparameters: try JSONValue(parsing: try row.string(6), field: "commits.hyperparameters"),
            contextPrefixes: try JSONValue(parsing: try row.string(7), field: "commits.context_prefixes")
                .stringArray(field: "commits.context_prefixes"),
            message: try row.string(8), author: try row.string(9), createdAt: try row.string(10),
            sourceCommitID: try row.optionalString(11), revertedCommitID: try row.optionalString(12),
            efficacy: try row.optionalDouble(13),
            verification: try row.optionalString(14).map { try JSONValue(parsing: $0, field: "commits.verification") })
    }

    /// The commit with full id `id`.
    /// - Throws: `LedgerError.commitNotFound`.
    public func commit(_ id: String) throws -> CommitRecord {
        guard let record = try database.queryFirst("""
            SELECT \(Self.commitColumns) FROM commits c JOIN base_models b ON b.id = c.base_model_id WHERE c.id = ?1
            """, [.text(id)], commitRecord) else { throw LedgerError.commitNotFound(id) }
        return record
    }

    /// Every commit, oldest first (by time, then id).
    public func allCommits() throws -> [CommitRecord] {
        try database.query("""
            SELECT \(Self.commitColumns) FROM commits c JOIN base_models b ON b.id = c.base_model_id ORDER BY c.created_at, c.id
            """, [], commitRecord)
    }

    /// The commits whose parent is `id`.
    public func children(of id: String) throws -> [String] {
        try database.query("SELECT id FROM commits WHERE parent_id = ?1 ORDER BY id", [.text(id)]) { try $0.string(0) }
    }

    func factRecord(_ row: Row) throws -> FactRecord {
        let fact = Fact(subject: try row.string(2), prompt: try row.string(3), targetNew: try row.string(4),
                        targetTrue: try row.optionalString(5),
                        paraphrases: try JSONValue(parsing: try row.string(6), field: "facts.paraphrases").stringArray(field: "facts.paraphrases"),
                        neighborhood: try JSONValue(parsing: try row.string(7), field: "facts.neighborhood").stringArray(field: "facts.neighborhood"))
        let supersedes: FactReference?
        if let c = try row.optionalString(8), let o = try row.optionalInt(9) {
            supersedes = FactReference(commitID: c, ordinal: o)
        } else {
            supersedes = nil
        }
        return FactRecord(reference: FactReference(commitID: try row.string(0), ordinal: try row.int(1)), fact: fact, supersedes: supersedes)
    }

    static let factColumns = """
        commit_id, ordinal, subject, prompt, target_new, target_true, paraphrases, neighborhood, supersedes_commit_id, supersedes_ordinal
        """

    /// How many facts commit `id` wrote.
    public func factCount(of id: String) throws -> Int {
        Int(try database.scalarInt("SELECT count(*) FROM facts WHERE commit_id = ?1", [.text(id)]) ?? 0)
    }

    /// How many commits the repository holds, reachable or not.
    public func commitCount() throws -> Int {
        Int(try database.scalarInt("SELECT count(*) FROM commits") ?? 0)
    }

    /// The facts commit `id` wrote, in ordinal order.
    public func facts(of id: String) throws -> [FactRecord] {
        try database.query("SELECT \(Self.factColumns) FROM facts WHERE commit_id = ?1 ORDER BY ordinal", [.text(id)], factRecord)
    }

    private func deltaRecord(_ row: Row) throws -> DeltaRecord {
        let dtype = try row.string(6)
        guard let precision = DeltaPrecision(rawValue: dtype) else {
            throw LedgerError.badColumn(table: "deltas", column: "dtype", reason: "unknown dtype '\(dtype)'")
        }
        return DeltaRecord(commitID: try row.string(0), tensor: try row.string(1), layer: try row.int(2), rows: try row.int(3),
                           cols: try row.int(4), rank: try row.int(5), precision: precision, norm: try row.double(7),
                           checksum: try row.string(8), storedBytes: try row.int(9))
    }

    /// Metadata of the deltas of commit `id`, sorted by tensor name.
    public func deltas(of id: String) throws -> [DeltaRecord] {
        try database.query("""
            SELECT commit_id, tensor, layer, rows, cols, rank, dtype, norm, sha256, stored_bytes
            FROM deltas WHERE commit_id = ?1 ORDER BY tensor
            """, [.text(id)], deltaRecord)
    }

    /// The stored form of one delta.
    /// - Throws: `LedgerError.deltaNotFound`.
    public func encodedDelta(commit id: String, tensor: String) throws -> EncodedDelta {
        guard let encoded = try database.queryFirst("""
            SELECT rows, cols, rank, dtype, norm, sha256, u_blob, v_blob FROM deltas WHERE commit_id = ?1 AND tensor = ?2
            """, [.text(id), .text(tensor)], { row -> EncodedDelta in
                let dtype = try row.string(3)
                guard let precision = DeltaPrecision(rawValue: dtype) else {
                    throw LedgerError.badColumn(table: "deltas", column: "dtype", reason: "unknown dtype '\(dtype)'")
                }
                return EncodedDelta(rows: try row.int(0), cols: try row.int(1), rank: try row.int(2), precision: precision,
                                    norm: try row.double(4), checksum: try row.string(5), uBlob: try row.blob(6), vBlob: try row.blob(7))
            }) else { throw LedgerError.deltaNotFound(commit: id, tensor: tensor) }
        return encoded
    }

    /// Decodes and verifies one delta of commit `id`.
    /// - Throws: `LedgerError.deltaNotFound`, `.checksumMismatch`, `.malformedBlob`.
    public func decodeDelta(commit id: String, tensor: String) throws -> LowRankDelta<Float> {
        try DeltaCodec.decode(try encodedDelta(commit: id, tensor: tensor), object: "delta \(id.prefix(12))/\(tensor)")
    }

    /// The keys and target values commit `id` stored, sorted by tensor name, verified.
    /// - Throws: `LedgerError.checksumMismatch`, `.malformedBlob`.
    public func editVectors(of id: String) throws -> [EditVectors] {
        try database.query("""
            SELECT tensor, layer, key_rows, key_cols, value_rows, value_cols, sha256, keys, target_values, key_dtype, value_dtype
            FROM edit_vectors WHERE commit_id = ?1 ORDER BY tensor
            """, [.text(id)]) { row in
            let tensor = try row.string(0)
            let storages = try [row.string(9), row.string(10)].map { name in
                guard let storage = MatrixBlob.Storage(rawValue: name) else {
                    throw LedgerError.malformedBlob(object: "edit vectors \(id.prefix(12))/\(tensor)", reason: "element type '\(name)'")
                }
                return storage
            }
            let matrices = try MatrixBlob.decode([try row.blob(7), try row.blob(8)],
                                                 shapes: [(try row.int(2), try row.int(3)), (try row.int(4), try row.int(5))],
                                                 storages: storages, tag: "mledit-vectors-1", checksum: try row.string(6),
                                                 object: "edit vectors \(id.prefix(12))/\(tensor)")
            return EditVectors(tensor: tensor, layer: try row.int(1), keys: matrices[0], values: matrices[1])
        }
    }

    /// The targets commit `id` was solved towards, verified; nil when it stored none (reverts,
    /// and commits written before the ledger kept them).
    /// - Throws: `LedgerError.checksumMismatch`, `.malformedBlob`.
    public func editTargets(of id: String) throws -> EditTargets? {
        try database.query("SELECT layer, rows, cols, sha256, targets FROM edit_targets WHERE commit_id = ?1", [.text(id)]) { row in
            let matrices = try MatrixBlob.decode([try row.blob(4)], shapes: [(try row.int(1), try row.int(2))],
                                                 tag: "mledit-targets-1", checksum: try row.string(3),
                                                 object: "edit targets \(id.prefix(12))")
            return EditTargets(layer: try row.int(0), values: matrices[0])
        }.first
    }

    /// The canonical document of stored commit `id`, rebuilt from its rows (what its id hashes).
    /// - Throws: `LedgerError.commitNotFound`, row decoding errors.
    public func canonicalDocument(of id: String) throws -> String {
        let record = try commit(id)
        let keys = try deltas(of: id).map { CommitIdentity.DeltaKey(tensor: $0.tensor, layer: $0.layer, checksum: $0.checksum) }
        return try CommitIdentity.document(parentID: record.parentID, baseModelDigest: record.baseModelDigest, kind: record.kind,
                                           method: record.method, hyperparameters: record.hyperparameters,
                                           contextPrefixes: record.contextPrefixes, facts: try facts(of: id).map(\.fact),
                                           deltas: keys, sourceCommitID: record.sourceCommitID, revertedCommitID: record.revertedCommitID,
                                           lifelongStatistics: try lifelongStatisticsKeys(of: id))
    }

    /// Recomputes the id of stored commit `id` from its rows.
    /// - Throws: `LedgerError.commitNotFound`, row decoding errors.
    public func recomputeID(of id: String) throws -> String {
        SHA256.hash(try canonicalDocument(of: id)).hex
    }

    /// Problems with one commit: id mismatch, undecodable or mis-checksummed blobs, wrong derived
    /// columns (norm, stored size). Empty when the commit is sound.
    func verifyCommit(_ id: String) throws -> [FsckProblem] {
        var problems: [FsckProblem] = []
        let object = "commit \(id)"
        do {
            let computed = try recomputeID(of: id)
            if computed != id { problems.append(FsckProblem(object: object, message: "content hashes to \(computed)")) }
        } catch let error as LedgerError {
            problems.append(FsckProblem(object: object, message: error.description))
        }
        for record in try deltas(of: id) {
            let deltaObject = "delta \(id)/\(record.tensor)"
            do {
                let encoded = try encodedDelta(commit: id, tensor: record.tensor)
                let delta = try DeltaCodec.decode(encoded, object: deltaObject)
                let norm = DeltaCodec.frobeniusNorm(u: delta.u.values, v: delta.v.values, rank: delta.rank)
                if abs(norm - record.norm) > 1e-9 * max(1, norm) {
                    problems.append(FsckProblem(object: deltaObject, message: "recorded norm \(record.norm), blobs give \(norm)"))
                }
                if encoded.storedBytes != record.storedBytes {
                    problems.append(FsckProblem(object: deltaObject, message: "recorded \(record.storedBytes) stored bytes, blobs hold \(encoded.storedBytes)"))
                }
            } catch let error as LedgerError {
                problems.append(FsckProblem(object: deltaObject, message: error.description))
            }
        }
        do {
            _ = try editVectors(of: id)
        } catch let error as LedgerError {
            problems.append(FsckProblem(object: "edit vectors of \(id)", message: error.description))
        }
        do {
            _ = try editTargets(of: id)
        } catch let error as LedgerError {
            problems.append(FsckProblem(object: "edit targets of \(id)", message: error.description))
        }
        do {
            _ = try lifelongStatistics(of: id)
        } catch let error as LedgerError {
            problems.append(FsckProblem(object: "UltraEdit statistics of \(id)", message: error.description))
        }
        return problems
    }
}
