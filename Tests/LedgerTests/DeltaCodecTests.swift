// The delta codec: round trips per precision, determinism, rebalancing, overflow, corruption.
import Foundation
import Testing
import Tensors
@testable import Ledger

@Suite("Delta codec")
struct DeltaCodecTests {
    static func factors(seed: UInt64, rows: Int = 40, cols: Int = 30, rank: Int = 3) -> (Matrix<Double>, Matrix<Double>) {
        var generator = SeededGenerator(seed: seed)
        return (Matrix<Double>.gaussian(rows: rows, cols: rank, generator: &generator),
                Matrix<Double>.gaussian(rows: cols, cols: rank, generator: &generator))
    }

    @Test("round trip within each precision's tolerance", arguments: [
        (DeltaPrecision.f16, 2e-3), (DeltaPrecision.bf16, 1.6e-2), (DeltaPrecision.f32, 1e-6),
    ])
    func roundTrip(precision: DeltaPrecision, tolerance: Double) throws {
        let (u, v) = Self.factors(seed: 7)
        let encoded = try DeltaCodec.encode(u: u, v: v, precision: precision)
        #expect(encoded.rows == 40 && encoded.cols == 30 && encoded.rank == 3)
        let decoded = try DeltaCodec.decode(encoded)
        let exact = u.multiplied(by: v, transposeOther: true)
        let dense = decoded.dense().toDouble()
        let scale = exact.values.map(abs).max() ?? 1
        let worst = dense.maxAbsDifference(exact)
        #expect(worst <= tolerance * scale, "largest difference \(worst) for \(precision)")
        // The recorded norm is the norm of what is stored.
        #expect(abs(encoded.norm - dense.frobeniusNorm) <= 1e-5 * dense.frobeniusNorm, "norm \(encoded.norm) vs \(dense.frobeniusNorm)")
    }

    @Test("f32 storage decodes to exactly the Float32 factors' product")
    func f32Exact() throws {
        let (u, v) = Self.factors(seed: 8)
        let decoded = try DeltaCodec.decode(try DeltaCodec.encode(u: u.toFloat(), v: v.toFloat(), precision: .f32))
        let worst = decoded.dense().toDouble().maxAbsDifference(u.toFloat().multiplied(by: v.toFloat(), transposeOther: true).toDouble())
        #expect(worst <= 1e-6, "largest difference \(worst)")
    }

    @Test("the same input gives the same bytes and checksum")
    func deterministic() throws {
        let (u, v) = Self.factors(seed: 9)
        let a = try DeltaCodec.encode(u: u, v: v)
        let b = try DeltaCodec.encode(u: u, v: v)
        #expect(a == b)
        let (u2, _) = Self.factors(seed: 10)
        #expect(try DeltaCodec.encode(u: u2, v: v).checksum != a.checksum)
    }

    @Test("rebalancing keeps a badly scaled product representable in f16")
    func rebalancing() throws {
        // U ~ 1e5 would overflow f16 (max 65504) and V ~ 1e-6 would underflow; U Vᵀ ~ 0.1 fits.
        let (u0, v0) = Self.factors(seed: 11, rank: 2)
        let u = 1e5 * u0, v = 1e-6 * v0
        let decoded = try DeltaCodec.decode(try DeltaCodec.encode(u: u, v: v, precision: .f16))
        let exact = u.multiplied(by: v, transposeOther: true)
        let scale = exact.values.map(abs).max() ?? 1
        let worst = decoded.dense().toDouble().maxAbsDifference(exact)
        #expect(worst <= 2e-3 * scale, "largest difference \(worst), scale \(scale)")
    }

    @Test("a product beyond f16's range is refused, f32 stores it")
    func overflow() throws {
        let u = Matrix<Double>(rows: 2, cols: 1, values: [1e6, 1])
        let v = Matrix<Double>(rows: 2, cols: 1, values: [1e6, 1])
        #expect(throws: LedgerError.self) { try DeltaCodec.encode(u: u, v: v, precision: .f16) }
        let decoded = try DeltaCodec.decode(try DeltaCodec.encode(u: u, v: v, precision: .f32))
        #expect(abs(Double(decoded.dense()[0, 0]) - 1e12) <= 1e12 * 1e-6)
    }

    @Test("shape errors and non-finite values are refused")
    func invalidInput() {
        let (u, v) = Self.factors(seed: 12)
        #expect(throws: LedgerError.self) { try DeltaCodec.encode(u: u, v: v.columns(0..<2)) }
        var bad = u
        bad.values[5] = .nan
        #expect(throws: LedgerError.self) { try DeltaCodec.encode(u: bad, v: v) }
    }

    @Test("a flipped byte in the content is a checksum mismatch; in the frame, a clear error")
    func corruption() throws {
        let (u, v) = Self.factors(seed: 13)
        let encoded = try DeltaCodec.encode(u: u, v: v)
        // Change one element of U and re-pack it validly: only the checksum can notice.
        var bytes = try BlobCodec.unpack(encoded.uBlob, count: 40 * 3, type: .f16, object: "U")
        bytes[10] ^= 0x01
        var tampered = encoded
        tampered.uBlob = try BlobCodec.pack(bytes, type: .f16, object: "U")
        #expect {
            try DeltaCodec.decode(tampered, object: "delta blk.0")
        } throws: { error in
            guard case LedgerError.checksumMismatch(let object, let expected, _) = error else { return false }
            return object == "delta blk.0" && expected == encoded.checksum
        }
        // A flipped byte inside the compressed frame: either zstd or the checksum rejects it.
        for offset in [0, 5, encoded.vBlob.count / 2, encoded.vBlob.count - 1] {
            var broken = encoded
            broken.vBlob[offset] ^= 0x40
            #expect(throws: LedgerError.self, "byte \(offset)") { try DeltaCodec.decode(broken) }
        }
    }

    @Test("shuffle groups bytes of equal significance and unshuffle inverts it")
    func shuffle() {
        let bytes: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        #expect(BlobCodec.shuffle(bytes, elementSize: 2) == [1, 3, 5, 7, 2, 4, 6, 8])
        #expect(BlobCodec.shuffle(bytes, elementSize: 4) == [1, 5, 2, 6, 3, 7, 4, 8])
        #expect(BlobCodec.unshuffle(BlobCodec.shuffle(bytes, elementSize: 4), elementSize: 4) == bytes)
    }

    @Test("f64 matrix blobs are lossless and checksummed, including empty matrices")
    func matrixBlob() throws {
        let (a, b) = Self.factors(seed: 14)
        let empty = Matrix<Double>(rows: 5, cols: 0)
        let (blobs, checksum) = try MatrixBlob.encode([a, b, empty], tag: "t", object: "m")
        let back = try MatrixBlob.decode(blobs, shapes: [(40, 3), (30, 3), (5, 0)], tag: "t", checksum: checksum, object: "m")
        #expect(back == [a, b, empty])
        #expect(throws: LedgerError.self) {
            try MatrixBlob.decode(blobs, shapes: [(40, 3), (30, 3), (5, 0)], tag: "t", checksum: String(repeating: "0", count: 64), object: "m")
        }
    }

    @Test("a matrix blob takes the narrowest exact type, decodes to the same numbers and keeps its checksum")
    func narrowestMatrixBlob() throws {
        let (a, _) = Self.factors(seed: 15)
        let single = Matrix(rows: a.rows, cols: a.cols, values: a.values.map { Double(Float($0)) })
        let half = Matrix(rows: a.rows, cols: a.cols, values: a.values.map {
            Double(HalfPrecision.floatFromHalf(HalfPrecision.halfFromFloat(Float($0))))
        })
        #expect(MatrixBlob.narrowestExactStorage(a) == .f64)
        #expect(MatrixBlob.narrowestExactStorage(single) == .f32)
        #expect(MatrixBlob.narrowestExactStorage(half) == .f16)
        #expect(MatrixBlob.narrowestExactStorage(Matrix<Double>(rows: 3, cols: 0)) == .f16)
        let wide = try MatrixBlob.encode([half, single], tag: "t", object: "m")
        let narrow = try MatrixBlob.encode([half, single], storages: [.f16, .f32], tag: "t", object: "m")
        #expect(narrow.checksum == wide.checksum)
        #expect(narrow.blobs[0].count < wide.blobs[0].count)
        let back = try MatrixBlob.decode(narrow.blobs, shapes: [(half.rows, half.cols), (single.rows, single.cols)],
                                         storages: [.f16, .f32], tag: "t", checksum: narrow.checksum, object: "m")
        #expect(back == [half, single])
        // A type that would round is refused rather than silently losing digits.
        #expect(throws: LedgerError.self) { try MatrixBlob.encode([single], storages: [.f16], tag: "t", object: "m") }
        #expect(throws: LedgerError.self) { try MatrixBlob.encode([a], storages: [.f32], tag: "t", object: "m") }
    }

    @Test("q8_0 keys: rounding is idempotent, within 1/254 of each block's largest element, stored exactly in a third of f16")
    func q8Keys() throws {
        var generator = SeededGenerator(seed: 21)
        var keys = Matrix<Float>(rows: 100, cols: 7)            // a short last block of 4 rows
        for i in keys.values.indices { keys.values[i] = Float.random(in: -3...3, using: &generator) }
        keys[5, 2] = 40                                          // an outlier sets its block's scale only
        keys.values.replaceSubrange(0..<7, with: [Float](repeating: 0, count: 7))
        let rounded = ColumnBlockQ8.rounded(keys)
        #expect(ColumnBlockQ8.rounded(rounded) == rounded)
        for c in 0..<keys.cols {
            for start in stride(from: 0, to: keys.rows, by: ColumnBlockQ8.blockSize) {
                let rows = start..<min(start + ColumnBlockQ8.blockSize, keys.rows)
                let largest = rows.map { abs(keys[$0, c]) }.max()!
                #expect(rows.allSatisfy { abs(rounded[$0, c] - keys[$0, c]) <= largest / 254 * 1.01 })
            }
        }
        let exact = rounded.toDouble()
        #expect(MatrixBlob.narrowestExactStorage(exact, allowingQ8: true) == .q8)
        #expect(MatrixBlob.narrowestExactStorage(exact) != .q8)
        #expect(ColumnBlockQ8.encode(keys.toDouble()) == nil, "unrounded keys are not q8_0")
        let q8 = try MatrixBlob.encode([exact], storages: [.q8], tag: "t", object: "m")
        let f64 = try MatrixBlob.encode([exact], tag: "t", object: "m")
        #expect(q8.checksum == f64.checksum)
        let back = try MatrixBlob.decode(q8.blobs, shapes: [(100, 7)], storages: [.q8], tag: "t", checksum: q8.checksum, object: "m")
        #expect(back == [exact])
        #expect(throws: LedgerError.self) { try MatrixBlob.encode([keys.toDouble()], storages: [.q8], tag: "t", object: "m") }
        #expect(throws: LedgerError.self) {
            try MatrixBlob.decode(q8.blobs, shapes: [(99, 7)], storages: [.q8], tag: "t", checksum: q8.checksum, object: "m")
        }
    }
}
