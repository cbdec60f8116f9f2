// The arithmetic of a version's weights: base + Σ_c U_c V_cᵀ for one tensor, done as one GEMM
// by stacking the factors ([U_1 … U_k] [V_1 … V_k]ᵀ). Model-free: the caller supplies the base
// matrix (d_out × d_in, row-major out × in) and the deltas, e.g. from
// `Repository.decodedDeltas(tensor:at:)`.
import Tensors

public enum Materializer {
    /// `base + Σ U Vᵀ` in one GEMM.
    /// - Throws: `LedgerError.invalidMatrix` when a delta's shape does not match `base`.
    public static func apply(base: Matrix<Float>, deltas: [LowRankDelta<Float>], tensor: String = "tensor") throws -> Matrix<Float> {
        var out = base
        try accumulate(into: &out, deltas: deltas, tensor: tensor)
        return out
    }

    /// Adds `Σ U Vᵀ` to `weights` in place (one GEMM), for callers that own a mutable buffer.
    /// - Throws: `LedgerError.invalidMatrix` when a delta's shape does not match.
    public static func accumulate(into weights: inout Matrix<Float>, deltas: [LowRankDelta<Float>], tensor: String = "tensor") throws {
        let stacked = try stack(deltas, rows: weights.rows, cols: weights.cols, tensor: tensor)
        guard let (u, v) = stacked else { return }
        weights.addProduct(u, v, transposeB: true)
    }

    /// The sum `Σ U Vᵀ` as one low-rank delta (factors side by side), nil for no deltas.
    /// - Throws: `LedgerError.invalidMatrix` when shapes differ.
    public static func combined(_ deltas: [LowRankDelta<Float>], tensor: String = "tensor") throws -> LowRankDelta<Float>? {
        guard let first = deltas.first else { return nil }
        guard let (u, v) = try stack(deltas, rows: first.rows, cols: first.cols, tensor: tensor) else { return nil }
        return LowRankDelta(u: u, v: v)
    }

    /// [U_1 … U_k] (rows × R) and [V_1 … V_k] (cols × R), R = Σ rank.
    private static func stack(_ deltas: [LowRankDelta<Float>], rows: Int, cols: Int, tensor: String) throws -> (Matrix<Float>, Matrix<Float>)? {
        var totalRank = 0
        for (i, d) in deltas.enumerated() {
            guard d.rows == rows, d.cols == cols else {
                throw LedgerError.invalidMatrix(object: tensor, reason: "delta \(i) is \(d.rows)×\(d.cols), the tensor is \(rows)×\(cols)")
            }
            totalRank += d.rank
        }
        if totalRank == 0 { return nil }
        var u = Matrix<Float>(rows: rows, cols: totalRank)
        var v = Matrix<Float>(rows: cols, cols: totalRank)
        var offset = 0
        for d in deltas {
            copyColumns(d.u, into: &u, at: offset)
            copyColumns(d.v, into: &v, at: offset)
            offset += d.rank
        }
        return (u, v)
    }

    private static func copyColumns(_ source: Matrix<Float>, into target: inout Matrix<Float>, at offset: Int) {
        let width = source.cols, stride = target.cols
        source.values.withUnsafeBufferPointer { src in
            target.values.withUnsafeMutableBufferPointer { dst in
                for r in 0..<source.rows {
                    for c in 0..<width { dst[r * stride + offset + c] = src[r * width + c] }
                }
            }
        }
    }
}

extension Repository {
    /// Tensor `tensor` of the version `revision`: `base` plus its lineage's deltas.
    /// - Throws: revision errors, blob errors, `.invalidMatrix` on a shape mismatch.
    public func materialize(tensor: String, base: Matrix<Float>, at revision: String) throws -> Matrix<Float> {
        try Materializer.apply(base: base, deltas: try decodedDeltas(tensor: tensor, at: revision), tensor: tensor)
    }
}
