// Matrices whose columns are stored as blocks of 32 signed bytes with one f16 scale each (the
// layout of GGML's Q8_0, run down each column): about 1.06 bytes a number. Used for the keys a
// commit keeps for the memory of the facts in force, where a relative error of 1/254 of a block's
// largest element is far below what the preservation term can tell apart. `rounded` is the one
// rounding rule; `encode` accepts exactly the matrices it produces, so what is stored decodes to
// the very numbers every solve used. Unlike ggml's quantize_row_q8_0 (Checkpoints' Quantization,
// which must match ggml's bytes), the scale is rounded to f16 before dividing by it, which is what
// makes decoding give back exactly the rounded numbers.

public enum ColumnBlockQ8 {
    public static let blockSize = 32
    static let blockBytes = 2 + blockSize

    /// Bytes of the encoding of a rows × cols matrix.
    public static func byteCount(rows: Int, cols: Int) -> Int {
        cols * ((rows + blockSize - 1) / blockSize) * blockBytes
    }

    /// The scale of a block whose largest magnitude is `largest`, as an f16 value.
    private static func scale(largest: Float) -> (bits: UInt16, value: Float) {
        let bits = HalfPrecision.halfFromFloat(largest / 127)
        return (bits, HalfPrecision.floatFromHalf(bits))
    }

    /// The nearest matrix the encoding holds: per block, x ↦ round(x / s)·s with s the f16 of
    /// max|x| / 127. Non-finite input is returned unchanged (the ledger refuses it).
    public static func rounded(_ m: Matrix<Float>) -> Matrix<Float> {
        guard m.values.allSatisfy(\.isFinite) else { return m }
        var out = m
        out.values.withUnsafeMutableBufferPointer { values in
            for c in 0..<m.cols {
                for start in stride(from: 0, to: m.rows, by: blockSize) {
                    let end = min(start + blockSize, m.rows)
                    var largest: Float = 0
                    for r in start..<end { largest = max(largest, abs(values[r * m.cols + c])) }
                    let s = scale(largest: largest).value
                    for r in start..<end {
                        let index = r * m.cols + c
                        values[index] = s > 0 && s.isFinite ? Float(Int8((values[index] / s).rounded().clamped(-127, 127))) * s : 0
                    }
                }
            }
        }
        return out
    }

    /// The encoding of `m`, or nil when `m` is not exactly a matrix `rounded` produces.
    public static func encode(_ m: Matrix<Double>) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: byteCount(rows: m.rows, cols: m.cols))
        var offset = 0
        for c in 0..<m.cols {
            for start in stride(from: 0, to: m.rows, by: blockSize) {
                let end = min(start + blockSize, m.rows)
                var largest: Float = 0
                for r in start..<end {
                    let value = m.values[r * m.cols + c]
                    guard value.isFinite, Double(Float(value)) == value else { return nil }
                    largest = max(largest, abs(Float(value)))
                }
                let (bits, s) = scale(largest: largest)
                guard s.isFinite else { return nil }
                out[offset] = UInt8(truncatingIfNeeded: bits)
                out[offset + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                for r in start..<end {
                    let value = Float(m.values[r * m.cols + c])
                    let q = s > 0 ? Int8((value / s).rounded().clamped(-127, 127)) : 0
                    // Bit for bit as `decode` gives it back (so no −0).
                    guard (Float(q) * s).bitPattern == value.bitPattern else { return nil }
                    out[offset + 2 + r - start] = UInt8(bitPattern: q)
                }
                offset += blockBytes
            }
        }
        return out
    }

    /// The matrix `bytes` encode, or nil when their count does not fit the shape.
    public static func decode(_ bytes: [UInt8], rows: Int, cols: Int) -> Matrix<Double>? {
        guard bytes.count == byteCount(rows: rows, cols: cols) else { return nil }
        var out = Matrix<Double>(rows: rows, cols: cols)
        var offset = 0
        for c in 0..<cols {
            for start in stride(from: 0, to: rows, by: blockSize) {
                let s = HalfPrecision.floatFromHalf(UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8)
                for r in start..<min(start + blockSize, rows) {
                    out.values[r * cols + c] = Double(Float(Int8(bitPattern: bytes[offset + 2 + r - start])) * s)
                }
                offset += blockBytes
            }
        }
        return out
    }
}

private extension Float {
    func clamped(_ low: Float, _ high: Float) -> Float { Swift.min(Swift.max(self, low), high) }
}
