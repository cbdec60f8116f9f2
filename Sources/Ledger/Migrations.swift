// The ledger's schema migrations: the files of the top-level `schema/` folder, embedded into the
// binary at build time (Package.swift: `.embedInCode("Schema")`, Sources/Ledger/Schema being a
// symlink to schema/), applied in order and counted by `PRAGMA user_version`. SwiftPM flattens
// the folder into `PackageResources.<file name with non-identifier characters as _>` byte arrays
// and offers no list of them, so each new file gets one line below; a test checks this list
// against the folder.

/// One schema file.
public struct Migration: Sendable {
    /// File name in schema/, e.g. "001_init.sql".
    public let name: String
    public let sql: String
}

public enum Migrations {
    /// All migrations in the order they apply; `user_version` = how many have been applied.
    public static let all: [Migration] = [
        Migration(name: "001_init.sql", sql: String(decoding: PackageResources._01_init_sql, as: UTF8.self)),
        Migration(name: "002_edit_targets.sql", sql: String(decoding: PackageResources._02_edit_targets_sql, as: UTF8.self)),
        Migration(name: "003_verification.sql", sql: String(decoding: PackageResources._03_verification_sql, as: UTF8.self)),
        Migration(name: "004_memory_grams.sql", sql: String(decoding: PackageResources._04_memory_grams_sql, as: UTF8.self)),
        Migration(name: "005_ultraedit_statistics.sql",
                  sql: String(decoding: PackageResources._05_ultraedit_statistics_sql, as: UTF8.self)),
        Migration(name: "006_edit_vector_types.sql",
                  sql: String(decoding: PackageResources._06_edit_vector_types_sql, as: UTF8.self)),
    ]

    /// The schema version this build writes.
    public static var latestVersion: Int { all.count }

    /// Brings `database` up to `latestVersion`, one transaction per file.
    /// - Throws: `LedgerError.schemaTooNew` when the file is newer than this build,
    ///   `LedgerError.migrationFailed` naming the file that failed.
    public static func apply(to database: Database) throws {
        let current = Int(try database.scalarInt("PRAGMA user_version") ?? 0)
        if current > latestVersion { throw LedgerError.schemaTooNew(found: current, supported: latestVersion) }
        for index in current..<latestVersion {
            let migration = all[index]
            do {
                try database.transaction {
                    // Another connection may have migrated while this one waited for the lock.
                    let now = Int(try database.scalarInt("PRAGMA user_version") ?? 0)
                    guard now == index else { return }
                    try database.executeScript(migration.sql)
                    try database.execute("PRAGMA user_version = \(index + 1)")
                }
            } catch let error as LedgerError {
                if case .migrationFailed = error { throw error }
                throw LedgerError.migrationFailed(file: migration.name, reason: error.description)
            }
        }
    }
}
