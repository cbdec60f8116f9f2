// The low-rank delta codec: Δ = U Vᵀ (U d_out × r, V d_in × r) to two compressed blobs with a
// checksum, a norm and a shape, and back. Each rank-one term is first rebalanced by a power of two
// (exact in binary floating point, so U Vᵀ is unchanged) to keep both factors inside the range of
// f16. Decoding verifies the checksum. Also the f64 matrix blobs of edit vectors and
// preservation statistics. No SQL here.
import Foundation
import Tensors

/// Precision of stored delta factors.
public enum DeltaPrecision: String, Sendable, CaseIterable, Codable {
    case f16, bf16, f32

    var elementType: ElementType {
        switch self {
        case .f16: .f16
        case .bf16: .bf16
        case .f32: .f32
        }
    }
}

/// A delta as stored: blobs plus the metadata of the `deltas` table.
public struct EncodedDelta: Sendable, Equatable {
    public var rows: Int
    public var cols: Int
    public var rank: Int
    public var precision: DeltaPrecision
    /// Frobenius norm of the stored (quantized) U Vᵀ.
    public var norm: Double
    /// SHA-256 hex of the decoded content (see schema/001_init.sql, table deltas).
    public var checksum: String
    public var uBlob: [UInt8]
    public var vBlob: [UInt8]
    public var storedBytes: Int { uBlob.count + vBlob.count }

    public init(rows: Int, cols: Int, rank: Int, precision: DeltaPrecision, norm: Double, checksum: String,
                uBlob: [UInt8], vBlob: [UInt8]) {
        self.rows = rows
        self.cols = cols
        self.rank = rank
        self.precision = precision
        self.norm = norm
        self.checksum = checksum
        self.uBlob = uBlob
        self.vBlob = vBlob
    }
}

public enum DeltaCodec {
    /// Encodes Δ = U Vᵀ. `object` names the delta in errors (e.g. the tensor name).
    /// - Throws: `LedgerError.invalidMatrix` for mismatched shapes, rank 0, non-finite values or
    ///   values that overflow the chosen precision even after rebalancing.
    public static func encode<Scalar: MatrixScalar>(u: Matrix<Scalar>, v: Matrix<Scalar>,
                                                    precision: DeltaPrecision = .f16,
                                                    object: String = "delta") throws -> EncodedDelta {
        guard u.cols == v.cols else {
            throw LedgerError.invalidMatrix(object: object, reason: "U is \(u.rows)×\(u.cols) but V is \(v.rows)×\(v.cols): ranks differ")
        }
        guard u.cols > 0, u.rows > 0, v.rows > 0 else {
            throw LedgerError.invalidMatrix(object: object, reason: "empty factors U \(u.rows)×\(u.cols), V \(v.rows)×\(v.cols)")
        }
        let rank = u.cols
        var uValues = u.values.map { Double($0) }
        var vValues = v.values.map { Double($0) }
        if let bad = uValues.firstIndex(where: { !$0.isFinite }) {
            throw LedgerError.invalidMatrix(object: object, reason: "U[\(bad / rank), \(bad % rank)] is \(uValues[bad])")
        }
        if let bad = vValues.firstIndex(where: { !$0.isFinite }) {
            throw LedgerError.invalidMatrix(object: object, reason: "V[\(bad / rank), \(bad % rank)] is \(vValues[bad])")
        }
        balance(&uValues, &vValues, rank: rank)
        let uFloats = uValues.map { Float($0) }
        let vFloats = vValues.map { Float($0) }
        let type = precision.elementType
        let uBytes = BlobCodec.elementBytes(uFloats, as: type)
        let vBytes = BlobCodec.elementBytes(vFloats, as: type)
        // The stored values, as decoding will see them: check range and compute the norm.
        let uStored = BlobCodec.floats(from: uBytes, type: type)
        let vStored = BlobCodec.floats(from: vBytes, type: type)
        if let bad = uStored.firstIndex(where: { !$0.isFinite }) {
            throw LedgerError.invalidMatrix(object: object, reason: "U[\(bad / rank), \(bad % rank)] = \(uValues[bad]) overflows \(precision.rawValue); store as f32")
        }
        if let bad = vStored.firstIndex(where: { !$0.isFinite }) {
            throw LedgerError.invalidMatrix(object: object, reason: "V[\(bad / rank), \(bad % rank)] = \(vValues[bad]) overflows \(precision.rawValue); store as f32")
        }
        let norm = frobeniusNorm(u: uStored, v: vStored, rank: rank)
        let checksum = digest(precision: precision, rows: u.rows, cols: v.rows, rank: rank, uBytes: uBytes, vBytes: vBytes)
        return EncodedDelta(rows: u.rows, cols: v.rows, rank: rank, precision: precision, norm: norm, checksum: checksum,
                            uBlob: try BlobCodec.pack(uBytes, type: type, object: "\(object) U"),
                            vBlob: try BlobCodec.pack(vBytes, type: type, object: "\(object) V"))
    }

    /// Decodes and verifies a stored delta.
    /// - Throws: `LedgerError.malformedBlob` when a blob does not decode to the recorded shape,
    ///   `LedgerError.checksumMismatch` when the content does not hash to `encoded.checksum`.
    public static func decode(_ encoded: EncodedDelta, object: String = "delta") throws -> LowRankDelta<Float> {
        let type = encoded.precision.elementType
        guard encoded.rows > 0, encoded.cols > 0, encoded.rank > 0 else {
            throw LedgerError.malformedBlob(object: object, reason: "shape \(encoded.rows)×\(encoded.cols) rank \(encoded.rank)")
        }
        let (uCount, o1) = encoded.rows.multipliedReportingOverflow(by: encoded.rank)
        let (vCount, o2) = encoded.cols.multipliedReportingOverflow(by: encoded.rank)
        guard !o1, !o2 else { throw LedgerError.malformedBlob(object: object, reason: "shape overflows") }
        let uBytes = try BlobCodec.unpack(encoded.uBlob, count: uCount, type: type, object: "\(object) U")
        let vBytes = try BlobCodec.unpack(encoded.vBlob, count: vCount, type: type, object: "\(object) V")
        let actual = digest(precision: encoded.precision, rows: encoded.rows, cols: encoded.cols, rank: encoded.rank,
                            uBytes: uBytes, vBytes: vBytes)
        guard actual == encoded.checksum else {
            throw LedgerError.checksumMismatch(object: object, expected: encoded.checksum, actual: actual)
        }
        return LowRankDelta(u: Matrix(rows: encoded.rows, cols: encoded.rank, values: BlobCodec.floats(from: uBytes, type: type)),
                            v: Matrix(rows: encoded.cols, cols: encoded.rank, values: BlobCodec.floats(from: vBytes, type: type)))
    }

    /// ‖U Vᵀ‖_F = sqrt(Σ_ij (UᵀU)_ij (VᵀV)_ij), in Float64 with a fixed summation order.
    static func frobeniusNorm(u: [Float], v: [Float], rank: Int) -> Double {
        func gram(_ x: [Float]) -> [Double] {
            var g = [Double](repeating: 0, count: rank * rank)
            let n = x.count / rank
            x.withUnsafeBufferPointer { p in
                for row in 0..<n {
                    for i in 0..<rank {
                        let a = Double(p[row * rank + i])
                        if a == 0 { continue }
                        for j in i..<rank { g[i * rank + j] += a * Double(p[row * rank + j]) }
                    }
                }
            }
            return g
        }
        let gu = gram(u), gv = gram(v)
        var sum = 0.0
        for i in 0..<rank {
            sum += gu[i * rank + i] * gv[i * rank + i]
            for j in (i + 1)..<max(i + 1, rank) { sum += 2 * gu[i * rank + j] * gv[i * rank + j] }
        }
        return max(sum, 0).squareRoot()
    }

    /// Scales column j of U by 2^-e and of V by 2^e so that their largest magnitudes are about
    /// equal. Powers of two are exact, so every product U_ij V_kj is unchanged.
    static func balance(_ u: inout [Double], _ v: inout [Double], rank: Int) {
        for j in 0..<rank {
            var maxU = 0.0, maxV = 0.0
            for i in stride(from: j, to: u.count, by: rank) { maxU = max(maxU, abs(u[i])) }
            for i in stride(from: j, to: v.count, by: rank) { maxV = max(maxV, abs(v[i])) }
            guard maxU > 0, maxV > 0 else { continue }
            let e = ((log2(maxU) - log2(maxV)) / 2).rounded()
            if e == 0 { continue }
            let down = exp2(-e), up = exp2(e)
            for i in stride(from: j, to: u.count, by: rank) { u[i] *= down }
            for i in stride(from: j, to: v.count, by: rank) { v[i] *= up }
        }
    }

    static func digest(precision: DeltaPrecision, rows: Int, cols: Int, rank: Int, uBytes: [UInt8], vBytes: [UInt8]) -> String {
        var header = Array("mledit-delta-1\0\(precision.rawValue)\0".utf8)
        BlobCodec.appendUInt64(rows, to: &header)
        BlobCodec.appendUInt64(cols, to: &header)
        BlobCodec.appendUInt64(rank, to: &header)
        var hasher = SHA256()
        hasher.update(header)
        hasher.update(uBytes)
        hasher.update(vBytes)
        return hasher.finalize().hex
    }
}

/// Lossless blobs for matrices that are inputs to later solves: edit vectors and preservation
/// statistics. Each matrix is stored as f64 unless a narrower storage is asked for that holds all
/// of its elements exactly; the checksum is over the f64 elements whatever the storage.
enum MatrixBlob {
    /// How one matrix's elements are stored (the dtype columns of edit_vectors).
    enum Storage: String, CaseIterable {
        /// Column blocks of 32 signed bytes with an f16 scale (ColumnBlockQ8).
        case q8 = "q8_0"
        case f16, f32, f64

        var elementType: ElementType? {
            switch self {
            case .q8: nil
            case .f16: .f16
            case .f32: .f32
            case .f64: .f64
            }
        }
    }

    /// The narrowest storage that holds every element of `matrix` exactly (q8 only when allowed,
    /// and when its blocks take fewer bytes than f16 would).
    static func narrowestExactStorage(_ matrix: Matrix<Double>, allowingQ8: Bool = false) -> Storage {
        if allowingQ8 && ColumnBlockQ8.byteCount(rows: matrix.rows, cols: matrix.cols) < 2 * matrix.values.count
            && ColumnBlockQ8.encode(matrix) != nil { return .q8 }
        var fitsHalf = true
        for value in matrix.values {
            let single = Float(value)
            if Double(single) != value { return .f64 }
            if fitsHalf && HalfPrecision.floatFromHalf(HalfPrecision.halfFromFloat(single)) != single { fitsHalf = false }
        }
        return fitsHalf ? .f16 : .f32
    }

    /// Encodes `matrices` into one blob each (storage `storages`, f64 where not given) and one
    /// checksum over `tag` ‖ all shapes ‖ all elements as f64.
    static func encode(_ matrices: [Matrix<Double>], storages: [Storage] = [], tag: String,
                       object: String) throws -> (blobs: [[UInt8]], checksum: String) {
        var header = Array("\(tag)\0".utf8)
        for m in matrices {
            BlobCodec.appendUInt64(m.rows, to: &header)
            BlobCodec.appendUInt64(m.cols, to: &header)
        }
        var hasher = SHA256()
        hasher.update(header)
        var blobs: [[UInt8]] = []
        for (i, m) in matrices.enumerated() {
            if let bad = m.values.firstIndex(where: { !$0.isFinite }) {
                throw LedgerError.invalidMatrix(object: "\(object) matrix \(i)", reason: "element [\(bad / max(m.cols, 1)), \(bad % max(m.cols, 1))] is \(m.values[bad])")
            }
            let bytes = BlobCodec.elementBytes(m.values)
            hasher.update(bytes)
            let storage = i < storages.count ? storages[i] : .f64
            let inexact = LedgerError.invalidMatrix(object: "\(object) matrix \(i)", reason: "not exactly representable as \(storage.rawValue)")
            switch storage.elementType {
            case nil:
                guard let encoded = ColumnBlockQ8.encode(m) else { throw inexact }
                blobs.append(try BlobCodec.compress(encoded, object: object))
            case .f64?:
                blobs.append(try BlobCodec.pack(bytes, type: .f64, object: object))
            case let type?:
                if narrowestExactStorage(m).elementType!.byteCount > type.byteCount { throw inexact }
                blobs.append(try BlobCodec.pack(BlobCodec.elementBytes(m.values.map(Float.init), as: type), type: type, object: object))
            }
        }
        return (blobs, hasher.finalize().hex)
    }

    /// Decodes blobs of the given shapes (storage `storages`, f64 where not given) and verifies
    /// the checksum.
    /// - Throws: `LedgerError.malformedBlob` or `LedgerError.checksumMismatch` naming `object`.
    static func decode(_ blobs: [[UInt8]], shapes: [(rows: Int, cols: Int)], storages: [Storage] = [], tag: String,
                       checksum: String, object: String) throws -> [Matrix<Double>] {
        var header = Array("\(tag)\0".utf8)
        for s in shapes {
            BlobCodec.appendUInt64(s.rows, to: &header)
            BlobCodec.appendUInt64(s.cols, to: &header)
        }
        var hasher = SHA256()
        hasher.update(header)
        var out: [Matrix<Double>] = []
        for (i, (blob, shape)) in zip(blobs, shapes).enumerated() {
            let (count, overflow) = shape.rows.multipliedReportingOverflow(by: shape.cols)
            guard !overflow, shape.rows >= 0, shape.cols >= 0 else {
                throw LedgerError.malformedBlob(object: object, reason: "shape \(shape.rows)×\(shape.cols)")
            }
            let storage = i < storages.count ? storages[i] : .f64
            let matrix: Matrix<Double>
            switch storage.elementType {
            case nil:
                let expected = ColumnBlockQ8.byteCount(rows: shape.rows, cols: shape.cols)
                let bytes = try BlobCodec.decompress(blob, expectedCount: expected, object: object)
                guard let decoded = ColumnBlockQ8.decode(bytes, rows: shape.rows, cols: shape.cols) else {
                    throw LedgerError.malformedBlob(object: object, reason: "\(bytes.count) bytes of q8_0 for \(shape.rows)×\(shape.cols)")
                }
                matrix = decoded
            case let type?:
                let bytes = try BlobCodec.unpack(blob, count: count, type: type, object: object)
                let values = type == .f64 ? BlobCodec.doubles(from: bytes) : BlobCodec.floats(from: bytes, type: type).map(Double.init)
                matrix = Matrix(rows: shape.rows, cols: shape.cols, values: values)
            }
            hasher.update(BlobCodec.elementBytes(matrix.values))
            out.append(matrix)
        }
        let actual = hasher.finalize().hex
        guard actual == checksum else { throw LedgerError.checksumMismatch(object: object, expected: checksum, actual: actual) }
        return out
    }
}
