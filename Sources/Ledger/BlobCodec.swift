// How the ledger turns arrays of numbers into blobs and back: little-endian elements of a chosen
// type, byte-shuffled (byte k of every element before byte k+1 of any), one zstd frame.
// Deterministic: the same numbers, type and zstd library give the same bytes. Checksums are taken
// over the unshuffled, uncompressed element bytes by the callers (DeltaCodec, MatrixBlob).
// It does not know about deltas, shapes or tables.
import CZstd
import Tensors

/// Element types a blob can hold.
public enum ElementType: String, Sendable, CaseIterable {
    case f16, bf16, f32, f64

    public var byteCount: Int {
        switch self {
        case .f16, .bf16: 2
        case .f32: 4
        case .f64: 8
        }
    }
}

enum BlobCodec {
    /// zstd level for every blob: fixed, so that the bytes are reproducible.
    static let compressionLevel: Int32 = 6

    /// Float32 values as little-endian elements of `type` (`f64` widens exactly).
    static func elementBytes(_ values: [Float], as type: ElementType) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * type.byteCount)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                switch type {
                case .f16:
                    for i in 0..<src.count { dst.storeBytes(of: HalfPrecision.halfFromFloat(src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                case .bf16:
                    for i in 0..<src.count { dst.storeBytes(of: HalfPrecision.bfloat16FromFloat(src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                case .f32:
                    for i in 0..<src.count { dst.storeBytes(of: src[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                case .f64:
                    for i in 0..<src.count { dst.storeBytes(of: Double(src[i]).bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
                }
            }
        }
        return out
    }

    /// Float64 values as little-endian f64 elements.
    static func elementBytes(_ values: [Double]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 8)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                for i in 0..<src.count { dst.storeBytes(of: src[i].bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
            }
        }
        return out
    }

    /// Little-endian elements of `type` (not f64) to Float32; exact for f16, bf16 and f32.
    static func floats(from bytes: [UInt8], type: ElementType) -> [Float] {
        let count = bytes.count / type.byteCount
        var out = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                switch type {
                case .f16:
                    for i in 0..<count { dst[i] = HalfPrecision.floatFromHalf(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
                case .bf16:
                    for i in 0..<count { dst[i] = HalfPrecision.floatFromBFloat16(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
                case .f32:
                    for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                case .f64:
                    for i in 0..<count { dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
                }
            }
        }
        return out
    }

    /// Little-endian f64 elements to Float64.
    static func doubles(from bytes: [UInt8]) -> [Double] {
        let count = bytes.count / 8
        var out = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count { dst[i] = Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))) }
            }
        }
        return out
    }

    /// Groups bytes of equal significance: output[k·n + i] = input[i·size + k] for n elements.
    static func shuffle(_ bytes: [UInt8], elementSize size: Int) -> [UInt8] {
        precondition(bytes.count % size == 0, "\(bytes.count) bytes are not whole \(size)-byte elements")
        let n = bytes.count / size
        var out = [UInt8](repeating: 0, count: bytes.count)
        bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for k in 0..<size {
                    for i in 0..<n { dst[k * n + i] = src[i * size + k] }
                }
            }
        }
        return out
    }

    /// The inverse of `shuffle`.
    static func unshuffle(_ bytes: [UInt8], elementSize size: Int) -> [UInt8] {
        precondition(bytes.count % size == 0, "\(bytes.count) bytes are not whole \(size)-byte elements")
        let n = bytes.count / size
        var out = [UInt8](repeating: 0, count: bytes.count)
        bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for k in 0..<size {
                    for i in 0..<n { dst[i * size + k] = src[k * n + i] }
                }
            }
        }
        return out
    }

    /// One zstd frame holding `bytes` (content size recorded in the frame header).
    /// - Throws: `LedgerError.malformedBlob` if zstd fails.
    static func compress(_ bytes: [UInt8], object: String) throws -> [UInt8] {
        let bound = ZSTD_compressBound(bytes.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                ZSTD_compress(dst.baseAddress, bound, src.baseAddress, src.count, compressionLevel)
            }
        }
        if ZSTD_isError(written) != 0 {
            throw LedgerError.malformedBlob(object: object, reason: "zstd compression failed: \(String(cString: ZSTD_getErrorName(written)))")
        }
        out.removeSubrange(written...)
        return out
    }

    /// Decompresses one zstd frame that must hold exactly `expectedCount` bytes.
    /// - Throws: `LedgerError.malformedBlob` naming `object` on any mismatch or zstd error.
    static func decompress(_ blob: [UInt8], expectedCount: Int, object: String) throws -> [UInt8] {
        let declared = blob.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are the two largest UInt64 values.
        if declared >= UInt64.max - 1 {
            throw LedgerError.malformedBlob(object: object, reason: "not a zstd frame with a recorded size (\(blob.count) bytes)")
        }
        guard declared == UInt64(expectedCount) else {
            throw LedgerError.malformedBlob(object: object, reason: "frame holds \(declared) bytes, expected \(expectedCount)")
        }
        var out = [UInt8](repeating: 0, count: expectedCount)
        let produced = out.withUnsafeMutableBytes { dst in
            blob.withUnsafeBytes { src in ZSTD_decompress(dst.baseAddress, expectedCount, src.baseAddress, src.count) }
        }
        if ZSTD_isError(produced) != 0 {
            throw LedgerError.malformedBlob(object: object, reason: "zstd: \(String(cString: ZSTD_getErrorName(produced)))")
        }
        guard produced == expectedCount else {
            throw LedgerError.malformedBlob(object: object, reason: "decoded \(produced) bytes, expected \(expectedCount)")
        }
        return out
    }

    /// Element bytes -> stored blob.
    static func pack(_ elementBytes: [UInt8], type: ElementType, object: String) throws -> [UInt8] {
        try compress(shuffle(elementBytes, elementSize: type.byteCount), object: object)
    }

    /// Stored blob -> element bytes for `count` elements of `type`.
    static func unpack(_ blob: [UInt8], count: Int, type: ElementType, object: String) throws -> [UInt8] {
        let (total, overflow) = count.multipliedReportingOverflow(by: type.byteCount)
        guard !overflow, count >= 0 else {
            throw LedgerError.malformedBlob(object: object, reason: "element count \(count) overflows")
        }
        return unshuffle(try decompress(blob, expectedCount: total, object: object), elementSize: type.byteCount)
    }

    /// Appends `value` as 8 little-endian bytes.
    static func appendUInt64(_ value: Int, to bytes: inout [UInt8]) {
        let v = UInt64(truncatingIfNeeded: value)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
}
