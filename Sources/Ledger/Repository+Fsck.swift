// fsck: checks a ledger end to end and lists what is wrong instead of stopping at the first
// problem. It repairs nothing.
import Foundation

extension Repository {
    /// Checks the whole ledger: SQLite's integrity_check and foreign_key_check, the schema
    /// version, every commit id recomputed from its rows, every delta, edit-vector and
    /// preservation-statistics blob decoded and checksummed (and deltas' norms and sizes), every
    /// cached memory Gram compared with the sum rebuilt from the stored keys,
    /// superseded facts existing, refs and HEAD pointing at existing commits.
    /// - Returns: the problems found; empty for a sound ledger.
    /// - Throws: only when the database cannot be read at all.
    public func fsck() throws -> [FsckProblem] {
        var problems: [FsckProblem] = []
        let integrity = try database.query("PRAGMA integrity_check", []) { try $0.string(0) }
        if integrity != ["ok"] {
            problems += integrity.map { FsckProblem(object: "database", message: "integrity_check: \($0)") }
        }
        let foreignKeys = try database.query("PRAGMA foreign_key_check", []) { row in
            "row \(try row.optionalInt64(1).map(String.init) ?? "?") of \(try row.string(0)) references a missing row of \(try row.string(2))"
        }
        problems += foreignKeys.map { FsckProblem(object: "database", message: "foreign_key_check: \($0)") }
        let version = Int(try database.scalarInt("PRAGMA user_version") ?? 0)
        if version != Migrations.latestVersion {
            problems.append(FsckProblem(object: "database", message: "schema version \(version), expected \(Migrations.latestVersion)"))
        }

        let ids = try database.query("SELECT id FROM commits ORDER BY id", []) { try $0.string(0) }
        for id in ids {
            do {
                problems += try verifyCommit(id)
            } catch let error as LedgerError {
                problems.append(FsckProblem(object: "commit \(id)", message: error.description))
            }
        }

        let orphans = try database.query("""
            SELECT c.id, c.parent_id FROM commits c
            WHERE c.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM commits p WHERE p.id = c.parent_id)
            ORDER BY c.id
            """, []) { (try $0.string(0), try $0.string(1)) }
        problems += orphans.map { FsckProblem(object: "commit \($0.0)", message: "its parent \($0.1) is missing") }

        let dangling = try database.query("""
            SELECT f.commit_id, f.ordinal FROM facts f
            WHERE f.supersedes_commit_id IS NOT NULL AND NOT EXISTS
                (SELECT 1 FROM facts g WHERE g.commit_id = f.supersedes_commit_id AND g.ordinal = f.supersedes_ordinal)
            """, []) { "\(try $0.string(0))#\(try $0.int(1))" }
        problems += dangling.map { FsckProblem(object: "fact \($0)", message: "supersedes a fact that does not exist") }

        let statKeys = try database.query("""
            SELECT base_model_id, tensor, corpus_digest, token_count FROM preservation_stats ORDER BY 1, 2, 3, 4
            """, []) {
            PreservationKey(baseModelID: try $0.int64(0), tensor: try $0.string(1), corpusDigest: try $0.string(2), tokenCount: try $0.int(3))
        }
        for (commitID, layer) in try cachedMemoryGramKeys() {
            let object = "memory of \(commitID) layer \(layer)"
            do {
                guard let cached = try cachedMemoryGram(commitID: commitID, layer: layer) else { continue }
                let rebuilt = try rebuiltMemoryGram(commitID: commitID, layer: layer)
                if rebuilt != cached {
                    problems.append(FsckProblem(object: object, message: "differs from the sum rebuilt from the stored keys (\(rebuilt?.factCount ?? 0) facts); 'mledit fsck --drop-caches' removes it"))
                }
            } catch let error as LedgerError {
                problems.append(FsckProblem(object: object, message: error.description))
            }
        }
        for key in statKeys {
            do {
                _ = try preservationStatistics(key)
            } catch let error as LedgerError {
                problems.append(FsckProblem(object: "preservation statistics \(key.tensor) (base #\(key.baseModelID))", message: error.description))
            }
        }

        let refRows = try database.query("SELECT name, kind, commit_id, symbolic_target FROM refs ORDER BY name", []) {
            (try $0.string(0), try $0.string(1), try $0.optionalString(2), try $0.optionalString(3))
        }
        if !refRows.contains(where: { $0.0 == "HEAD" }) {
            problems.append(FsckProblem(object: "ref HEAD", message: "missing"))
        }
        for (name, kind, commitID, target) in refRows {
            if kind == "direct" {
                if let commitID, try database.scalarInt("SELECT 1 FROM commits WHERE id = ?1", [.text(commitID)]) == nil {
                    problems.append(FsckProblem(object: "ref \(name)", message: "points at missing commit \(commitID)"))
                }
            } else if let target, target != "refs/heads/" + Repository.shortName(target) {
                problems.append(FsckProblem(object: "ref \(name)", message: "symbolic target \(target) is not a branch"))
            }
        }
        return problems
    }
}
