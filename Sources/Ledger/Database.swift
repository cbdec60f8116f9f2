// A small SQLite wrapper: one connection (`Database`), prepared statements finalized in deinit,
// typed errors for every result code, bound parameters only, and one transaction helper.
// It knows nothing of the ledger's tables; Repository builds on it. A connection belongs to one
// thread at a time; open one per thread (WAL lets them read concurrently and serializes writers).
import CSQLite
import Foundation

/// A value bound to or read from SQL.
public enum SQLValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

extension SQLValue {
    public init(_ value: String?) { self = value.map { .text($0) } ?? .null }
    public init(_ value: Int) { self = .integer(Int64(value)) }
    public init(_ value: Int?) { self = value.map { .integer(Int64($0)) } ?? .null }
    public init(_ value: Double?) { self = value.map { .real($0) } ?? .null }
}

/// The transient destructor: SQLite copies bound text and blobs before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One open SQLite connection.
public final class Database {
    let handle: OpaquePointer
    public let path: String

    /// Opens (creating if needed) the database at `path` in WAL mode with foreign keys on,
    /// synchronous FULL, and a busy timeout.
    /// - Throws: `LedgerError.sqlite` when SQLite cannot open or configure the file.
    public init(path: String, busyTimeoutMilliseconds: Int32 = 10_000, create: Bool = true) throws {
        var pointer: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX
        let code = sqlite3_open_v2(path, &pointer, flags, nil)
        guard code == SQLITE_OK, let pointer else {
            let message = pointer.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let pointer { sqlite3_close_v2(pointer) }
            throw LedgerError.sqlite(code: SQLiteResultCode(code), extendedCode: code, message: message,
                                     statement: "open \(path)")
        }
        handle = pointer
        self.path = path
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
        // journal_mode answers with a row; WAL must be set outside a transaction.
        let mode = try scalarText("PRAGMA journal_mode = WAL")
        if mode?.lowercased() != "wal" {
            throw LedgerError.sqlite(code: .error, extendedCode: 1, message: "could not enable WAL (mode is \(mode ?? "unknown"))",
                                     statement: "PRAGMA journal_mode = WAL")
        }
        try execute("PRAGMA foreign_keys = ON")
        try execute("PRAGMA synchronous = FULL")
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    func error(_ code: Int32, _ statement: String) -> LedgerError {
        .sqlite(code: SQLiteResultCode(code), extendedCode: sqlite3_extended_errcode(handle),
                message: String(cString: sqlite3_errmsg(handle)), statement: statement)
    }

    /// Prepares `sql` (one statement).
    /// - Throws: `LedgerError.sqlite` on a syntax error or unknown table.
    public func prepare(_ sql: String) throws -> Statement {
        try Statement(database: self, sql: sql)
    }

    /// Runs one statement with bound parameters, discarding any rows.
    /// - Throws: `LedgerError.sqlite`.
    public func execute(_ sql: String, _ parameters: [SQLValue] = []) throws {
        let statement = try prepare(sql)
        try statement.bind(parameters)
        while try statement.step() {}
    }

    /// Runs a script of several statements without parameters (migrations only).
    /// - Throws: `LedgerError.sqlite`.
    public func executeScript(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        if code != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw LedgerError.sqlite(code: SQLiteResultCode(code), extendedCode: sqlite3_extended_errcode(handle),
                                     message: text, statement: "script")
        }
    }

    /// Runs a query and maps every row.
    /// - Throws: `LedgerError.sqlite`, or whatever `map` throws.
    public func query<T>(_ sql: String, _ parameters: [SQLValue] = [], _ map: (Row) throws -> T) throws -> [T] {
        let statement = try prepare(sql)
        try statement.bind(parameters)
        var out: [T] = []
        while try statement.step() { out.append(try map(statement.row)) }
        return out
    }

    /// The first row of a query, mapped, or nil when there is none.
    public func queryFirst<T>(_ sql: String, _ parameters: [SQLValue] = [], _ map: (Row) throws -> T) throws -> T? {
        let statement = try prepare(sql)
        try statement.bind(parameters)
        return try statement.step() ? try map(statement.row) : nil
    }

    /// The first column of the first row as text (nil for no row or NULL).
    public func scalarText(_ sql: String, _ parameters: [SQLValue] = []) throws -> String? {
        try queryFirst(sql, parameters) { try $0.optionalString(0) } ?? nil
    }

    /// The first column of the first row as an integer (nil for no row or NULL).
    public func scalarInt(_ sql: String, _ parameters: [SQLValue] = []) throws -> Int64? {
        try queryFirst(sql, parameters) { try $0.optionalInt64(0) } ?? nil
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Whether a transaction is open on this connection.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` in a transaction: `BEGIN IMMEDIATE` (taking the write lock up front, waiting up
    /// to the busy timeout), `COMMIT` when `body` returns, `ROLLBACK` when it throws, rethrowing
    /// the first error. Nested calls become savepoints, so an inner failure undoes only its part.
    /// - Throws: the first error of `body`, BEGIN or COMMIT.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        if isInTransaction {
            try execute("SAVEPOINT nested")
            do {
                let result = try body()
                try execute("RELEASE nested")
                return result
            } catch {
                try? execute("ROLLBACK TO nested")
                try? execute("RELEASE nested")
                throw error
            }
        }
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }
}

/// A prepared statement, finalized when released.
public final class Statement {
    let handle: OpaquePointer
    let database: Database
    public let sql: String

    init(database: Database, sql: String) throws {
        var pointer: OpaquePointer?
        let code = sqlite3_prepare_v2(database.handle, sql, -1, &pointer, nil)
        guard code == SQLITE_OK, let pointer else { throw database.error(code, sql) }
        self.handle = pointer
        self.database = database
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// Resets the statement and binds `parameters` to ?1, ?2, … in order.
    /// - Throws: `LedgerError.sqlite` on a count mismatch or a failed bind.
    public func bind(_ parameters: [SQLValue]) throws {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard expected == parameters.count else {
            throw LedgerError.sqlite(code: .range, extendedCode: SQLITE_RANGE,
                                     message: "\(parameters.count) parameters for \(expected) placeholders", statement: sql)
        }
        for (i, value) in parameters.enumerated() {
            let index = Int32(i + 1)
            let code: Int32
            switch value {
            case .null: code = sqlite3_bind_null(handle, index)
            case .integer(let v): code = sqlite3_bind_int64(handle, index, v)
            case .real(let v): code = sqlite3_bind_double(handle, index, v)
            case .text(let v):
                // Explicit length, so that text with an embedded NUL is stored whole.
                var utf8 = Array(v.utf8)
                utf8.append(0)
                code = utf8.withUnsafeBufferPointer { bytes in
                    bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                        sqlite3_bind_text64(handle, index, $0, sqlite3_uint64(bytes.count - 1), transient, UInt8(SQLITE_UTF8))
                    }
                }
            case .blob(let v):
                code = v.withUnsafeBytes { bytes in
                    // A zero-length blob still needs a non-null pointer, or SQLite binds NULL.
                    sqlite3_bind_blob64(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                        sqlite3_uint64(bytes.count), transient)
                }
            }
            if code != SQLITE_OK { throw database.error(code, sql) }
        }
    }

    /// Advances to the next row; false when the statement is done.
    /// - Throws: `LedgerError.sqlite` (constraint violations, busy, corruption, …).
    public func step() throws -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.error(code, sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// The current row (valid until the next `step`).
    public var row: Row { Row(statement: self) }
}

/// Typed access to the current row of a statement. Getters throw on NULL or a wrong type.
public struct Row {
    let statement: Statement

    private var handle: OpaquePointer { statement.handle }

    public var columnCount: Int { Int(sqlite3_column_count(handle)) }

    public func columnName(_ index: Int) -> String {
        sqlite3_column_name(handle, Int32(index)).map { String(cString: $0) } ?? "#\(index)"
    }

    private func type(_ index: Int) -> Int32 { sqlite3_column_type(handle, Int32(index)) }

    private func mismatch(_ index: Int, _ expected: String) -> LedgerError {
        let table = sqlite3_column_table_name(handle, Int32(index)).map { String(cString: $0) } ?? "query"
        let names = ["", "integer", "real", "text", "blob", "null"]
        let found = Int(type(index))
        return .badColumn(table: table, column: columnName(index),
                          reason: "expected \(expected), found \(found < names.count ? names[found] : "type \(found)")")
    }

    public func isNull(_ index: Int) -> Bool { type(index) == SQLITE_NULL }

    public func int64(_ index: Int) throws -> Int64 {
        guard type(index) == SQLITE_INTEGER else { throw mismatch(index, "integer") }
        return sqlite3_column_int64(handle, Int32(index))
    }

    public func int(_ index: Int) throws -> Int { Int(try int64(index)) }

    public func optionalInt64(_ index: Int) throws -> Int64? { isNull(index) ? nil : try int64(index) }

    public func optionalInt(_ index: Int) throws -> Int? { isNull(index) ? nil : try int(index) }

    public func double(_ index: Int) throws -> Double {
        let t = type(index)
        guard t == SQLITE_FLOAT || t == SQLITE_INTEGER else { throw mismatch(index, "real") }
        return sqlite3_column_double(handle, Int32(index))
    }

    public func optionalDouble(_ index: Int) throws -> Double? { isNull(index) ? nil : try double(index) }

    public func string(_ index: Int) throws -> String {
        guard type(index) == SQLITE_TEXT else { throw mismatch(index, "text") }
        let count = Int(sqlite3_column_bytes(handle, Int32(index)))
        guard let pointer = sqlite3_column_text(handle, Int32(index)) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    public func optionalString(_ index: Int) throws -> String? { isNull(index) ? nil : try string(index) }

    public func blob(_ index: Int) throws -> [UInt8] {
        guard type(index) == SQLITE_BLOB else { throw mismatch(index, "blob") }
        let count = Int(sqlite3_column_bytes(handle, Int32(index)))
        guard count > 0, let pointer = sqlite3_column_blob(handle, Int32(index)) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
