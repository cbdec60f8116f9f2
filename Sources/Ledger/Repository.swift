// A repository: the ledger database `.mledit/ledger.sqlite` under a working folder, with its
// schema migrated. This file opens and creates repositories and manages base models; commits,
// refs, lineage, fsck and caches are extensions in Repository+*.swift. A Repository owns one
// connection and belongs to one thread at a time; open another for another thread or process.
import Foundation

public final class Repository {
    /// The folder holding `.mledit/`.
    public let root: URL
    /// `.mledit/ledger.sqlite`.
    public let ledgerURL: URL
    /// The connection; use it directly only for what this API does not offer.
    public let database: Database

    public static let directoryName = ".mledit"
    public static let ledgerFileName = "ledger.sqlite"
    public static let defaultBranch = "main"

    private init(root: URL, database: Database) {
        self.root = root
        self.ledgerURL = Repository.ledgerURL(in: root)
        self.database = database
    }

    /// Where the ledger of a repository rooted at `root` lives.
    public static func ledgerURL(in root: URL) -> URL {
        root.appendingPathComponent(directoryName, isDirectory: true).appendingPathComponent(ledgerFileName)
    }

    /// Creates a repository at `root`: the ledger, the base model, and HEAD pointing at the unborn
    /// branch `initialBranch`.
    /// - Throws: `LedgerError.repositoryExists` when a ledger is already there; `.io`, `.sqlite`.
    public static func create(at root: URL, baseModel: BaseModelDraft, initialBranch: String = defaultBranch) throws -> Repository {
        let ledger = ledgerURL(in: root)
        let branchRef = try branchRefName(initialBranch)
        do {
            try FileManager.default.createDirectory(at: ledger.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw LedgerError.io(path: ledger.deletingLastPathComponent().path, reason: "\(error.localizedDescription)")
        }
        let existed = FileManager.default.fileExists(atPath: ledger.path)
        let database = try Database(path: ledger.path)
        // A file without any schema is what a create killed before its transaction committed leaves.
        if existed, try database.scalarInt("SELECT count(*) FROM sqlite_schema") != 0 {
            throw LedgerError.repositoryExists(path: ledger.path)
        }
        let repository = Repository(root: root, database: database)
        // Schema, base model and HEAD in one transaction (the migrations become savepoints).
        try database.transaction {
            try Migrations.apply(to: database)
            _ = try repository.addBaseModel(baseModel)
            try database.execute("INSERT INTO refs (name, kind, symbolic_target) VALUES ('HEAD', 'symbolic', ?1)", [.text(branchRef)])
        }
        return repository
    }

    /// Opens the repository rooted at `root`, migrating an older ledger.
    /// - Throws: `LedgerError.repositoryNotFound`, `.schemaTooNew`, `.sqlite`.
    public static func open(at root: URL) throws -> Repository {
        let ledger = ledgerURL(in: root)
        guard FileManager.default.fileExists(atPath: ledger.path) else { throw LedgerError.repositoryNotFound(path: root.path) }
        let database = try Database(path: ledger.path, create: false)
        // Version 0 is an empty file (an init that never committed): not a repository yet.
        if try database.scalarInt("PRAGMA user_version") == 0 { throw LedgerError.repositoryNotFound(path: root.path) }
        try Migrations.apply(to: database)
        return Repository(root: root, database: database)
    }

    /// Opens the repository whose root is `directory` or its nearest ancestor holding `.mledit/`.
    /// - Throws: `LedgerError.repositoryNotFound` naming `directory` when there is none.
    public static func discover(from directory: URL) throws -> Repository {
        var candidate = directory.standardizedFileURL
        // A relative or vanished start has no parents to walk up to.
        guard candidate.path.hasPrefix("/"), FileManager.default.fileExists(atPath: candidate.path) else {
            throw LedgerError.repositoryNotFound(path: directory.path)
        }
        while true {
            if FileManager.default.fileExists(atPath: ledgerURL(in: candidate).path) { return try open(at: candidate) }
            let parent = candidate.deletingLastPathComponent()
            if parent.path == candidate.path { throw LedgerError.repositoryNotFound(path: directory.path) }
            candidate = parent
        }
    }

    /// The current time as stored: ISO 8601 UTC with milliseconds.
    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }

    // MARK: Base models

    /// Registers a base model, or returns the existing record with the same digest (updating
    /// nothing).
    /// - Throws: `LedgerError.invalidJSON` for a bad digest or configuration, `.sqlite`.
    @discardableResult
    public func addBaseModel(_ draft: BaseModelDraft) throws -> BaseModelRecord {
        guard Repository.isFullID(draft.sha256) else {
            throw LedgerError.invalidJSON(field: "base model sha256", reason: "'\(draft.sha256)' is not 64 lowercase hex digits")
        }
        return try database.transaction {
            if let existing = try baseModel(digest: draft.sha256) { return existing }
            try database.execute("""
                INSERT INTO base_models (path, sha256, format, architecture, configuration, added_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                """, [.text(draft.path), .text(draft.sha256), .text(draft.format), .text(draft.architecture),
                      .text(try draft.configuration.canonicalText()), .text(Repository.timestamp())])
            guard let record = try baseModel(digest: draft.sha256) else { throw LedgerError.baseModelNotFound(draft.sha256) }
            return record
        }
    }

    private static let baseModelColumns = "id, path, sha256, format, architecture, configuration, added_at"

    private func baseModelRecord(_ row: Row) throws -> BaseModelRecord {
        BaseModelRecord(id: try row.int64(0), path: try row.string(1), sha256: try row.string(2), format: try row.string(3),
                        architecture: try row.string(4),
                        configuration: try JSONValue(parsing: try row.string(5), field: "base_models.configuration"),
                        addedAt: try row.string(6))
    }

    /// The base model with local id `id`.
    /// - Throws: `LedgerError.baseModelNotFound`.
    public func baseModel(id: Int64) throws -> BaseModelRecord {
        guard let record = try database.queryFirst("SELECT \(Self.baseModelColumns) FROM base_models WHERE id = ?1",
                                                   [.integer(id)], baseModelRecord) else {
            throw LedgerError.baseModelNotFound("#\(id)")
        }
        return record
    }

    /// The base model with file digest `digest`, if registered.
    public func baseModel(digest: String) throws -> BaseModelRecord? {
        try database.queryFirst("SELECT \(Self.baseModelColumns) FROM base_models WHERE sha256 = ?1", [.text(digest)], baseModelRecord)
    }

    /// All base models, oldest first (the first is the one the repository was created with).
    public func baseModels() throws -> [BaseModelRecord] {
        try database.query("SELECT \(Self.baseModelColumns) FROM base_models ORDER BY id", [], baseModelRecord)
    }

    /// Records a new path for a base model (the file moved; its digest is unchanged).
    public func updateBaseModelPath(id: Int64, path: String) throws {
        try database.transaction {
            try database.execute("UPDATE base_models SET path = ?1 WHERE id = ?2", [.text(path), .integer(id)])
            if database.changes == 0 { throw LedgerError.baseModelNotFound("#\(id)") }
        }
    }

    static func isFullID(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}
