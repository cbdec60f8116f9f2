// The Ledger module's one error type. Every message is one line and names the table, column,
// ref, revision, tensor or file it concerns and what was expected.
import Foundation

/// SQLite's primary result codes, named; `other` keeps any code this list does not name.
public enum SQLiteResultCode: Equatable, Sendable, CustomStringConvertible {
    case error, internalError, permission, abort, busy, locked, noMemory, readOnly, interrupt
    case ioError, corrupt, notFound, full, cannotOpen, protocolError, schema, tooBig, constraint
    case mismatch, misuse, noLargeFileSupport, authorization, range, notADatabase
    case other(Int32)

    /// Classifies a (possibly extended) result code by its primary code, the low byte.
    public init(_ code: Int32) {
        switch code & 0xFF {
        case 1: self = .error
        case 2: self = .internalError
        case 3: self = .permission
        case 4: self = .abort
        case 5: self = .busy
        case 6: self = .locked
        case 7: self = .noMemory
        case 8: self = .readOnly
        case 9: self = .interrupt
        case 10: self = .ioError
        case 11: self = .corrupt
        case 12: self = .notFound
        case 13: self = .full
        case 14: self = .cannotOpen
        case 15: self = .protocolError
        case 17: self = .schema
        case 18: self = .tooBig
        case 19: self = .constraint
        case 20: self = .mismatch
        case 21: self = .misuse
        case 22: self = .noLargeFileSupport
        case 23: self = .authorization
        case 25: self = .range
        case 26: self = .notADatabase
        default: self = .other(code)
        }
    }

    public var description: String {
        switch self {
        case .error: "SQLITE_ERROR"
        case .internalError: "SQLITE_INTERNAL"
        case .permission: "SQLITE_PERM"
        case .abort: "SQLITE_ABORT"
        case .busy: "SQLITE_BUSY"
        case .locked: "SQLITE_LOCKED"
        case .noMemory: "SQLITE_NOMEM"
        case .readOnly: "SQLITE_READONLY"
        case .interrupt: "SQLITE_INTERRUPT"
        case .ioError: "SQLITE_IOERR"
        case .corrupt: "SQLITE_CORRUPT"
        case .notFound: "SQLITE_NOTFOUND"
        case .full: "SQLITE_FULL"
        case .cannotOpen: "SQLITE_CANTOPEN"
        case .protocolError: "SQLITE_PROTOCOL"
        case .schema: "SQLITE_SCHEMA"
        case .tooBig: "SQLITE_TOOBIG"
        case .constraint: "SQLITE_CONSTRAINT"
        case .mismatch: "SQLITE_MISMATCH"
        case .misuse: "SQLITE_MISUSE"
        case .noLargeFileSupport: "SQLITE_NOLFS"
        case .authorization: "SQLITE_AUTH"
        case .range: "SQLITE_RANGE"
        case .notADatabase: "SQLITE_NOTADB"
        case .other(let code): "SQLite result code \(code)"
        }
    }
}

/// Everything that can go wrong in the ledger.
public enum LedgerError: Error, Equatable, CustomStringConvertible {
    /// A SQLite call failed. `statement` is the SQL text (or the operation) it failed in.
    case sqlite(code: SQLiteResultCode, extendedCode: Int32, message: String, statement: String)
    /// A column held a value of an unexpected type or content.
    case badColumn(table: String, column: String, reason: String)
    /// The database's `user_version` is newer than the migrations this build embeds.
    case schemaTooNew(found: Int, supported: Int)
    /// A schema file failed to apply.
    case migrationFailed(file: String, reason: String)
    case repositoryExists(path: String)
    case repositoryNotFound(path: String)
    case io(path: String, reason: String)
    /// A blob's decoded content does not hash to its recorded checksum.
    case checksumMismatch(object: String, expected: String, actual: String)
    /// A blob could not be decoded (zstd error, wrong length, bad header).
    case malformedBlob(object: String, reason: String)
    /// A delta, edit-vector or matrix input violates a shape or value rule.
    case invalidMatrix(object: String, reason: String)
    case invalidJSON(field: String, reason: String)
    case invalidCommit(reason: String)
    /// A revert names a commit outside the history it would be made on.
    case notInHistory(commitID: String)
    /// A revert names a commit that a revert in force already took out.
    case alreadyReverted(commitID: String)
    case commitNotFound(String)
    /// A stored commit's content hashes to something other than its id.
    case commitIDMismatch(stored: String, computed: String)
    case baseModelNotFound(String)
    case unknownRevision(String)
    case ambiguousRevision(String, candidates: [String])
    case ancestorOutOfRange(revision: String, requested: Int, available: Int)
    case invalidRefName(String, reason: String)
    case refNotFound(String)
    case refExists(String)
    /// Compare-and-swap failed: the ref no longer holds what the caller based its change on.
    case refConflict(ref: String, expected: String?, actual: String?)
    /// HEAD names a branch that has no commit yet.
    case unbornBranch(String)
    case deltaNotFound(commit: String, tensor: String)
    /// Another process held the writer lock for longer than the caller would wait.
    case lockTimeout(path: String, holder: Int32?, seconds: Double)
    /// A commit's lineage is incomplete or inconsistent (see `Repository.verifyLineage`).
    case brokenHistory(commit: String, reason: String)

    public var description: String {
        switch self {
        case let .sqlite(code, extended, message, statement):
            let sql = statement.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .joined(separator: " ")
            return "SQLite \(code) (\(extended)): \(message) in `\(sql.prefix(160))`"
        case let .badColumn(table, column, reason):
            return "ledger table \(table), column \(column): \(reason)"
        case let .schemaTooNew(found, supported):
            return "ledger schema version \(found) is newer than this mledit supports (\(supported)); upgrade mledit"
        case let .migrationFailed(file, reason):
            return "schema migration \(file) failed: \(reason)"
        case let .repositoryExists(path):
            return "a ledger already exists at \(path)"
        case let .repositoryNotFound(path):
            return "no mledit repository at \(path) (run `mledit init` first)"
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .checksumMismatch(object, expected, actual):
            return "\(object): checksum mismatch, recorded \(expected), content hashes to \(actual)"
        case let .malformedBlob(object, reason):
            return "\(object): malformed blob: \(reason)"
        case let .invalidMatrix(object, reason):
            return "\(object): \(reason)"
        case let .invalidJSON(field, reason):
            return "\(field): invalid JSON: \(reason)"
        case let .invalidCommit(reason):
            return "invalid commit: \(reason)"
        case let .notInHistory(id):
            return "commit \(id.prefix(10)) is not in the history of HEAD"
        case let .alreadyReverted(id):
            return "commit \(id.prefix(10)) is already reverted"
        case let .commitNotFound(id):
            return "commit \(id) not found"
        case let .commitIDMismatch(stored, computed):
            return "commit \(stored): content hashes to \(computed)"
        case let .baseModelNotFound(key):
            return "base model \(key) not found in the ledger"
        case let .unknownRevision(revision):
            return "unknown revision '\(revision)': not a branch, tag, HEAD or commit id (prefixes need 4+ hex digits)"
        case let .ambiguousRevision(revision, candidates):
            let shown = candidates.prefix(5).joined(separator: ", ")
            return "ambiguous revision '\(revision)': matches \(candidates.count) commits (\(shown)); use more digits"
        case let .ancestorOutOfRange(revision, requested, available):
            return "revision '\(revision)': asked for ancestor \(requested) but the lineage has only \(available) ancestor(s)"
        case let .invalidRefName(name, reason):
            return "invalid ref name '\(name)': \(reason)"
        case let .refNotFound(name):
            return "ref \(name) does not exist"
        case let .refExists(name):
            return "ref \(name) already exists"
        case let .refConflict(ref, expected, actual):
            return "ref \(ref) moved concurrently: expected \(expected ?? "none"), found \(actual ?? "none")"
        case let .unbornBranch(name):
            return "branch \(name) has no commits yet"
        case let .deltaNotFound(commit, tensor):
            return "commit \(commit) has no delta for tensor \(tensor)"
        case let .lockTimeout(path, holder, seconds):
            let who = holder.map { "process \($0)" } ?? "another process"
            if seconds == 0 { return "\(who) holds the writer lock \(path); try again later or wait for it with --wait SECONDS" }
            return "\(who) has held the writer lock \(path) for more than \(seconds.formatted(.number.precision(.fractionLength(0...1)))) s; try again later or wait longer with --wait SECONDS"
        case let .brokenHistory(commit, reason):
            return "the history of commit \(commit.prefix(12)) is damaged: \(reason); run 'mledit fsck'"
        }
    }
}
