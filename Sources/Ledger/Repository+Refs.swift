// Refs: HEAD, branches and tags; compare-and-swap moves with a reflog row in the same
// transaction; revision parsing (ids, unique prefixes, names, HEAD, ~N and ^). Refs are the only
// mutable state of a ledger.
import Foundation

extension Repository {
    static let branchPrefix = "refs/heads/"
    static let tagPrefix = "refs/tags/"

    /// Checks a short branch or tag name: git's rules, simplified.
    static func validateShortName(_ name: String) throws {
        func fail(_ reason: String) -> LedgerError { .invalidRefName(name, reason: reason) }
        if name.isEmpty { throw fail("empty") }
        if name == "HEAD" { throw fail("HEAD is reserved") }
        if name.hasPrefix("-") { throw fail("starts with '-'") }
        if name.hasPrefix("/") || name.hasSuffix("/") || name.contains("//") { throw fail("empty path component") }
        if name.hasSuffix(".") || name.hasSuffix(".lock") || name.contains("..") || name.contains("/.") || name.hasPrefix(".") {
            throw fail("components may not start with '.', end with '.' or '.lock', or contain '..'")
        }
        if name.contains("@{") { throw fail("contains '@{'") }
        for scalar in name.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F || " ~^:?*[\\".unicodeScalars.contains(scalar) {
                throw fail("contains '\(scalar.escaped(asASCII: true))'")
            }
        }
    }

    /// "main" or "refs/heads/main" -> "refs/heads/main".
    /// - Throws: `LedgerError.invalidRefName`.
    public static func branchRefName(_ name: String) throws -> String {
        let short = name.hasPrefix(branchPrefix) ? String(name.dropFirst(branchPrefix.count)) : name
        try validateShortName(short)
        return branchPrefix + short
    }

    /// "v1" or "refs/tags/v1" -> "refs/tags/v1".
    /// - Throws: `LedgerError.invalidRefName`.
    public static func tagRefName(_ name: String) throws -> String {
        let short = name.hasPrefix(tagPrefix) ? String(name.dropFirst(tagPrefix.count)) : name
        try validateShortName(short)
        return tagPrefix + short
    }

    static func shortName(_ full: String) -> String {
        if full.hasPrefix(branchPrefix) { return String(full.dropFirst(branchPrefix.count)) }
        if full.hasPrefix(tagPrefix) { return String(full.dropFirst(tagPrefix.count)) }
        return full
    }

    // MARK: Reading

    /// The raw row of a ref: (kind, commit id, symbolic target), nil when it does not exist.
    func refRow(_ name: String) throws -> (kind: String, commitID: String?, target: String?)? {
        try database.queryFirst("SELECT kind, commit_id, symbolic_target FROM refs WHERE name = ?1", [.text(name)]) {
            (try $0.string(0), try $0.optionalString(1), try $0.optionalString(2))
        }
    }

    /// The commit a branch or tag (full name) points at; nil when it does not exist.
    public func refCommit(_ fullName: String) throws -> String? {
        if fullName == "HEAD" { return try head().commitID }
        return try refRow(fullName)?.commitID
    }

    /// What HEAD is.
    /// - Throws: `LedgerError.refNotFound("HEAD")` for a ledger without HEAD.
    public func head() throws -> HeadState {
        guard let row = try refRow("HEAD") else { throw LedgerError.refNotFound("HEAD") }
        if row.kind == "symbolic", let target = row.target {
            return .branch(target, commitID: try refRow(target)?.commitID)
        }
        guard let id = row.commitID else { throw LedgerError.badColumn(table: "refs", column: "commit_id", reason: "HEAD is direct but has no commit") }
        return .detached(id)
    }

    /// The commit HEAD resolves to.
    /// - Throws: `LedgerError.unbornBranch` when HEAD's branch has no commit yet.
    public func headCommit() throws -> String {
        switch try head() {
        case .branch(let name, let id):
            guard let id else { throw LedgerError.unbornBranch(Repository.shortName(name)) }
            return id
        case .detached(let id): return id
        }
    }

    private func refs(prefix: String) throws -> [RefRecord] {
        try database.query("SELECT name, commit_id FROM refs WHERE name GLOB ?1 AND kind = 'direct' ORDER BY name",
                           [.text(prefix + "*")]) {
            let name = try $0.string(0)
            return RefRecord(name: name, shortName: Repository.shortName(name), commitID: try $0.string(1))
        }
    }

    /// All branches, sorted by name.
    public func branches() throws -> [RefRecord] { try refs(prefix: Repository.branchPrefix) }

    /// All tags, sorted by name.
    public func tags() throws -> [RefRecord] { try refs(prefix: Repository.tagPrefix) }

    /// The reflog of `ref` ("HEAD" or a full or short branch name), oldest first; the last
    /// `limit` entries when given.
    public func reflog(_ ref: String = "HEAD", limit: Int? = nil) throws -> [ReflogEntry] {
        let name = ref == "HEAD" || ref.hasPrefix("refs/") ? ref : try Repository.branchRefName(ref)
        let rows = try database.query("""
            SELECT id, ref, old_commit_id, new_commit_id, message, created_at FROM reflog
            WHERE ref = ?1 ORDER BY id DESC LIMIT ?2
            """, [.text(name), .integer(Int64(limit ?? -1))]) {
            ReflogEntry(sequence: try $0.int64(0), ref: try $0.string(1), oldCommitID: try $0.optionalString(2),
                        newCommitID: try $0.optionalString(3), message: try $0.string(4), createdAt: try $0.string(5))
        }
        return rows.reversed()
    }

    // MARK: Writing

    func appendReflog(_ ref: String, old: String?, new: String?, message: String) throws {
        try database.execute("INSERT INTO reflog (ref, old_commit_id, new_commit_id, message, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                             [.text(ref), SQLValue(old), SQLValue(new), .text(message), .text(Repository.timestamp())])
    }

    func requireCommit(_ id: String) throws {
        guard try database.scalarInt("SELECT 1 FROM commits WHERE id = ?1", [.text(id)]) != nil else {
            throw LedgerError.commitNotFound(id)
        }
    }

    /// Compare-and-swap: moves `ref` to `newCommitID` only if it currently points at `expected`
    /// (nil: the ref must not exist, or HEAD's branch must be unborn), with a reflog row; all in
    /// one transaction. `ref` is "HEAD" (moving the branch HEAD follows, or HEAD itself when
    /// detached), a full name, or a short branch name.
    /// - Throws: `LedgerError.refConflict` when the ref holds something else,
    ///   `.commitNotFound`, `.invalidRefName`.
    public func updateRef(_ ref: String, to newCommitID: String, expecting expected: String?, message: String) throws {
        try database.transaction {
            try requireCommit(newCommitID)
            let name = try resolveRefForWriting(ref)
            try casMove(name, to: newCommitID, expecting: expected, message: message)
        }
    }

    /// The direct ref a write to `ref` changes: HEAD's branch for a symbolic HEAD.
    func resolveRefForWriting(_ ref: String) throws -> String {
        if ref == "HEAD" {
            switch try head() {
            case .branch(let name, _): return name
            case .detached: return "HEAD"
            }
        }
        if ref.hasPrefix(Repository.tagPrefix) { return try Repository.tagRefName(ref) }
        return try Repository.branchRefName(ref)
    }

    /// Inside a transaction: CAS of a direct ref plus reflog rows (also HEAD's when HEAD follows it).
    func casMove(_ name: String, to newCommitID: String, expecting expected: String?, message: String) throws {
        let current = try refRow(name)
        if let current, current.kind != "direct" {
            throw LedgerError.invalidRefName(name, reason: "is symbolic; move the branch it names")
        }
        guard current?.commitID == expected else {
            throw LedgerError.refConflict(ref: name, expected: expected, actual: current?.commitID)
        }
        if current == nil {
            try database.execute("INSERT INTO refs (name, kind, commit_id) VALUES (?1, 'direct', ?2)", [.text(name), .text(newCommitID)])
        } else {
            try database.execute("UPDATE refs SET commit_id = ?1 WHERE name = ?2 AND commit_id = ?3",
                                 [.text(newCommitID), .text(name), SQLValue(expected)])
            guard database.changes == 1 else { throw LedgerError.refConflict(ref: name, expected: expected, actual: try refRow(name)?.commitID) }
        }
        try appendReflog(name, old: expected, new: newCommitID, message: message)
        if name != "HEAD", case .branch(let followed, _) = try head(), followed == name {
            try appendReflog("HEAD", old: expected, new: newCommitID, message: message)
        }
    }

    /// Creates branch `name` at `commitID`.
    /// - Throws: `LedgerError.refExists`, `.invalidRefName`, `.commitNotFound`.
    public func createBranch(_ name: String, at commitID: String) throws {
        let full = try Repository.branchRefName(name)
        try database.transaction {
            if try refRow(full) != nil { throw LedgerError.refExists(full) }
            try requireCommit(commitID)
            try casMove(full, to: commitID, expecting: nil, message: "branch: created at \(commitID)")
        }
    }

    /// Deletes branch `name`; refuses the branch HEAD follows.
    /// - Throws: `LedgerError.refNotFound`, `.invalidRefName`.
    public func deleteBranch(_ name: String) throws {
        let full = try Repository.branchRefName(name)
        try database.transaction {
            if case .branch(let followed, _) = try head(), followed == full {
                throw LedgerError.invalidRefName(name, reason: "is the current branch; check out another first")
            }
            guard let row = try refRow(full) else { throw LedgerError.refNotFound(full) }
            try database.execute("DELETE FROM refs WHERE name = ?1", [.text(full)])
            try appendReflog(full, old: row.commitID, new: nil, message: "branch: deleted")
        }
    }

    /// Creates tag `name` at `commitID`. Tags never move.
    /// - Throws: `LedgerError.refExists`, `.invalidRefName`, `.commitNotFound`.
    public func createTag(_ name: String, at commitID: String) throws {
        let full = try Repository.tagRefName(name)
        try database.transaction {
            if try refRow(full) != nil { throw LedgerError.refExists(full) }
            try requireCommit(commitID)
            try casMove(full, to: commitID, expecting: nil, message: "tag: created at \(commitID)")
        }
    }

    /// Deletes tag `name`.
    /// - Throws: `LedgerError.refNotFound`, `.invalidRefName`.
    public func deleteTag(_ name: String) throws {
        let full = try Repository.tagRefName(name)
        try database.transaction {
            guard let row = try refRow(full) else { throw LedgerError.refNotFound(full) }
            try database.execute("DELETE FROM refs WHERE name = ?1", [.text(full)])
            try appendReflog(full, old: row.commitID, new: nil, message: "tag: deleted")
        }
    }

    /// Creates branch `name` at `commitID` and points HEAD at it, in one transaction: both happen
    /// or neither.
    public func createBranchAndCheckout(_ name: String, at commitID: String) throws {
        try database.transaction {
            try createBranch(name, at: commitID)
            try checkout(branch: name)
        }
    }

    /// Points HEAD at branch `name` (which must exist, unless `allowUnborn`).
    /// - Throws: `LedgerError.refNotFound`, `.invalidRefName`.
    public func checkout(branch name: String, allowUnborn: Bool = false) throws {
        let full = try Repository.branchRefName(name)
        try database.transaction {
            let old = try head().commitID
            let target = try refRow(full)?.commitID
            if target == nil && !allowUnborn { throw LedgerError.refNotFound(full) }
            try database.execute("UPDATE refs SET kind = 'symbolic', commit_id = NULL, symbolic_target = ?1 WHERE name = 'HEAD'", [.text(full)])
            try appendReflog("HEAD", old: old, new: target, message: "checkout: moving to \(Repository.shortName(full))")
        }
    }

    /// Detaches HEAD at `commitID`.
    /// - Throws: `LedgerError.commitNotFound`.
    public func detachHead(at commitID: String, message: String? = nil) throws {
        try database.transaction {
            try requireCommit(commitID)
            let old = try head().commitID
            try database.execute("UPDATE refs SET kind = 'direct', commit_id = ?1, symbolic_target = NULL WHERE name = 'HEAD'", [.text(commitID)])
            try appendReflog("HEAD", old: old, new: commitID, message: message ?? "checkout: moving to \(commitID)")
        }
    }

    // MARK: Revisions

    /// Resolves a revision to a full commit id. Accepted: a full id; a unique prefix of 4 or more
    /// hex digits; `HEAD`; a branch or tag (short or full name); any of these followed by `~N`,
    /// `~` or `^` (N-th, first, first parent), repeatable (`main~2^`).
    /// - Throws: `LedgerError.unknownRevision`, `.ambiguousRevision`, `.ancestorOutOfRange`,
    ///   `.unbornBranch`.
    public func resolve(_ revision: String) throws -> String {
        let trimmed = revision.trimmingCharacters(in: .whitespaces)
        guard let split = trimmed.firstIndex(where: { $0 == "~" || $0 == "^" }) else { return try resolveBase(trimmed, revision: revision) }
        var id = try resolveBase(String(trimmed[..<split]), revision: revision)
        var rest = trimmed[split...]
        var total = 0
        while let symbol = rest.first {
            rest = rest.dropFirst()
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            rest = rest.dropFirst(digits.count)
            let steps: Int
            if symbol == "~" {
                guard digits.isEmpty || Int(digits) != nil else { throw LedgerError.unknownRevision(revision) }
                steps = digits.isEmpty ? 1 : Int(digits)!
            } else if symbol == "^" {
                // Commits have one parent: ^ and ^1 are the parent, ^0 the commit itself.
                guard digits.isEmpty || digits == "1" || digits == "0" else { throw LedgerError.unknownRevision(revision) }
                steps = digits == "0" ? 0 : 1
            } else {
                throw LedgerError.unknownRevision(revision)
            }
            let start = total
            for _ in 0..<steps {
                guard let parent = try parentID(of: id) else {
                    throw LedgerError.ancestorOutOfRange(revision: revision, requested: start + steps, available: total)
                }
                id = parent
                total += 1
            }
        }
        return id
    }

    func parentID(of id: String) throws -> String? {
        guard let row = try database.queryFirst("SELECT parent_id FROM commits WHERE id = ?1", [.text(id)], { try $0.optionalString(0) }) else {
            throw LedgerError.commitNotFound(id)
        }
        return row
    }

    private func resolveBase(_ base: String, revision: String) throws -> String {
        if base.isEmpty { throw LedgerError.unknownRevision(revision) }
        if base == "HEAD" || base == "@" { return try headCommit() }
        let lower = base.lowercased()
        if Repository.isFullID(lower) {
            guard try database.scalarInt("SELECT 1 FROM commits WHERE id = ?1", [.text(lower)]) != nil else {
                throw LedgerError.unknownRevision(revision)
            }
            return lower
        }
        if base.hasPrefix("refs/") {
            if let id = try refRow(base)?.commitID { return id }
            throw LedgerError.unknownRevision(revision)
        }
        var named: [(String, String)] = []
        for full in [Repository.branchPrefix + base, Repository.tagPrefix + base] {
            if let id = try refRow(full)?.commitID { named.append((full, id)) }
        }
        if let first = named.first {
            if named.count == 2, named[1].1 != first.1 {
                throw LedgerError.ambiguousRevision(revision, candidates: named.map { "\($0.0) (\($0.1.prefix(12)))" })
            }
            return first.1
        }
        guard lower.count >= 4, lower.count < 64, lower.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            throw LedgerError.unknownRevision(revision)
        }
        let matches = try database.query("SELECT id FROM commits WHERE id GLOB ?1 ORDER BY id LIMIT 10", [.text(lower + "*")]) { try $0.string(0) }
        if matches.isEmpty { throw LedgerError.unknownRevision(revision) }
        if matches.count > 1 { throw LedgerError.ambiguousRevision(revision, candidates: matches) }
        return matches[0]
    }
}
