// The SQLite wrapper and migrations: typed errors, bound parameters, transactions, schema files.
import Foundation
import Testing
@testable import Ledger

@Suite("Database and migrations")
struct DatabaseTests {
    @Test("a new database is migrated to the latest version with WAL and foreign keys on")
    func migrations() throws {
        let directory = try TemporaryDirectory()
        let database = try Database(path: directory.url.appendingPathComponent("l.sqlite").path)
        #expect(try database.scalarInt("PRAGMA user_version") == 0)
        try Migrations.apply(to: database)
        #expect(try database.scalarInt("PRAGMA user_version") == Int64(Migrations.latestVersion))
        #expect(try database.scalarText("PRAGMA journal_mode") == "wal")
        #expect(try database.scalarInt("PRAGMA foreign_keys") == 1)
        let tables = Set(try database.query("SELECT name FROM sqlite_schema WHERE type = 'table'", []) { try $0.string(0) })
        for table in ["base_models", "commits", "facts", "deltas", "edit_vectors", "preservation_stats", "refs", "reflog", "evaluations"] {
            #expect(tables.contains(table), "table \(table)")
        }
        // Applying again changes nothing.
        try Migrations.apply(to: database)
        #expect(try database.scalarInt("PRAGMA user_version") == Int64(Migrations.latestVersion))
    }

    @Test("a ledger from a newer mledit is refused")
    func tooNew() throws {
        let directory = try TemporaryDirectory()
        let database = try Database(path: directory.url.appendingPathComponent("l.sqlite").path)
        try database.execute("PRAGMA user_version = 99")
        #expect(throws: LedgerError.schemaTooNew(found: 99, supported: Migrations.latestVersion)) { try Migrations.apply(to: database) }
    }

    @Test("the embedded migrations are exactly the files of schema/")
    func embeddedMatchesFolder() throws {
        let folder = testsFolder.deletingLastPathComponent().appendingPathComponent("schema")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files == Migrations.all.map(\.name))
        for migration in Migrations.all {
            let onDisk = try String(contentsOf: folder.appendingPathComponent(migration.name), encoding: .utf8)
            #expect(onDisk == migration.sql, "\(migration.name) differs from the embedded copy")
        }
    }

    @Test("constraint violations become typed errors; values are bound, never spliced")
    func typedErrors() throws {
        let directory = try TemporaryDirectory()
        let database = try Database(path: directory.url.appendingPathComponent("l.sqlite").path)
        try database.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL) STRICT")
        let tricky = "x'); DROP TABLE t; --\u{0}after NUL"
        try database.execute("INSERT INTO t VALUES (?1, ?2)", [.text(tricky), .integer(1)])
        #expect(try database.scalarText("SELECT k FROM t WHERE n = ?1", [.integer(1)]) == tricky)
        #expect {
            try database.execute("INSERT INTO t VALUES (?1, ?2)", [.text(tricky), .integer(2)])
        } throws: { error in
            guard case LedgerError.sqlite(let code, _, _, _) = error else { return false }
            return code == .constraint
        }
        #expect(throws: LedgerError.self) { try database.execute("INSERT INTO t VALUES (?1)", [.text("a"), .integer(1)]) }
        #expect(throws: LedgerError.self) { try database.execute("SELECT * FROM missing") }
        #expect(throws: LedgerError.self) { try database.queryFirst("SELECT k FROM t", []) { try $0.int64(0) } }
    }

    @Test("a failing transaction leaves nothing; a failing savepoint only undoes its part")
    func rollback() throws {
        struct Boom: Error {}
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let database = repository.database
        #expect(throws: Boom.self) {
            try database.transaction {
                try repository.addBaseModel(Sample.baseModel(digest: Sample.otherBaseDigest))
                try database.execute("INSERT INTO reflog (ref, message, created_at) VALUES ('HEAD', 'x', 'now')")
                throw Boom()
            }
        }
        #expect(try repository.baseModels().count == 1)
        #expect(try database.scalarInt("SELECT count(*) FROM reflog") == 0)
        #expect(!database.isInTransaction)

        try database.transaction {
            try database.execute("INSERT INTO reflog (ref, message, created_at) VALUES ('HEAD', 'kept', 'now')")
            _ = try? database.transaction {
                try database.execute("INSERT INTO reflog (ref, message, created_at) VALUES ('HEAD', 'undone', 'now')")
                throw Boom()
            }
        }
        #expect(try database.query("SELECT message FROM reflog", []) { try $0.string(0) } == ["kept"])
    }

    @Test("stored history cannot be updated or deleted")
    func immutability() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let commits = try Sample.chain(repository, count: 1)
        #expect(throws: LedgerError.self) { try repository.database.execute("UPDATE commits SET message = 'rewritten'") }
        #expect(throws: LedgerError.self) { try repository.database.execute("DELETE FROM deltas") }
        #expect(throws: LedgerError.self) { try repository.database.execute("UPDATE facts SET target_new = 'x'") }
        #expect(try repository.commit(commits[0].id).message == "edit")
    }
}
