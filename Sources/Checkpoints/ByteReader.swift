// The single bounds-checked little-endian reader through which every binary checkpoint structure
// is parsed. It reads from borrowed memory (a mapped file) and never copies; it knows no format.

/// A cursor over borrowed bytes; every read checks the bounds and throws `CheckpointError.truncated`.
///
/// The buffer must outlive the reader (use it inside `withUnsafeBytes`).
public struct ByteReader {
    /// The bytes being read.
    public let bytes: UnsafeRawBufferPointer
    /// The file name used in error messages.
    public let file: String
    /// The current position, in bytes from the start of `bytes`.
    public private(set) var offset: Int

    public init(bytes: UnsafeRawBufferPointer, file: String, offset: Int = 0) {
        self.bytes = bytes
        self.file = file
        self.offset = max(0, min(offset, bytes.count))
    }

    /// Bytes left after the cursor.
    public var remaining: Int { bytes.count - offset }

    /// Throws unless `count` bytes remain for `field`.
    public func require(_ count: Int, for field: String) throws {
        if count < 0 || count > remaining {
            throw CheckpointError.truncated(file: file, offset: offset, field: field, needed: count, available: remaining)
        }
    }

    /// Reads a little-endian integer.
    /// - Throws: `CheckpointError.truncated` when too few bytes remain.
    public mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ field: String) throws -> T {
        let size = MemoryLayout<T>.size
        try require(size, for: field)
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: value)
    }

    /// Reads a little-endian IEEE binary32.
    public mutating func readFloat(_ field: String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, field))
    }

    /// Reads a little-endian IEEE binary64.
    public mutating func readDouble(_ field: String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, field))
    }

    /// Returns the next `count` bytes (borrowed) and advances past them.
    public mutating func readBytes(_ count: Int, _ field: String) throws -> UnsafeRawBufferPointer {
        try require(count, for: field)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + count])
        offset += count
        return slice
    }

    /// The byte at the cursor without consuming it, or nil at the end.
    public func peekByte() -> UInt8? {
        offset < bytes.count ? bytes[offset] : nil
    }

    /// Moves the cursor forward by `count` bytes.
    public mutating func skip(_ count: Int, _ field: String) throws {
        try require(count, for: field)
        offset += count
    }

    /// Moves the cursor to an absolute position within the buffer.
    public mutating func seek(to position: Int, _ field: String) throws {
        guard position >= 0, position <= bytes.count else {
            throw CheckpointError.truncated(file: file, offset: offset, field: field,
                                            needed: position - offset, available: remaining)
        }
        offset = position
    }
}

/// Overflow-checked size arithmetic shared by the readers and writers.
enum CheckedArithmetic {
    /// The product of `values`, or nil on overflow or a negative factor.
    static func product(_ values: [Int]) -> Int? {
        var result = 1
        for value in values {
            guard value >= 0 else { return nil }
            let (p, overflow) = result.multipliedReportingOverflow(by: value)
            if overflow { return nil }
            result = p
        }
        return result
    }

    static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : p
    }

    static func add(_ a: Int, _ b: Int) -> Int? {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : s
    }

    /// `x` rounded up to a multiple of `alignment` (a positive power of two), or nil on overflow.
    static func align(_ x: Int, to alignment: Int) -> Int? {
        let rest = x % alignment
        return rest == 0 ? x : add(x, alignment - rest)
    }
}
