// The size and rank of the difference between two versions' weights for one tensor, computed
// from the low-rank factors alone: D = Σ_added U Vᵀ − Σ_removed U Vᵀ = A Bᵀ with
// A = [U…, −U…] (d_out × r) and B = [V…, V…] (d_in × r). While r is below d_out and d_in everything
// goes through the r × r Gram matrices and the dense difference is never formed; beyond, through
// the dense d_out × d_in difference, which is then the smaller. Not here: reading deltas from
// the ledger (the CLI does) or deciding which commits two versions share.
import Foundation
import Tensors

/// ‖D‖_F, the singular values and the numerical rank of D = Σ U_a V_aᵀ − Σ U_r V_rᵀ.
public struct LowRankDifference: Sendable, Equatable {
    /// d_out.
    public var rows: Int
    /// d_in.
    public var cols: Int
    /// Frobenius norm of D.
    public var frobeniusNorm: Double
    /// The non-zero-candidate singular values of D, largest first (min(r, d_out, d_in) of them,
    /// r = total factor rank).
    public var singularValues: [Double]
    /// Singular values above `‖A‖₂ ‖B‖₂ · max(d_out, d_in) · ε_float32`: NumPy's matrix_rank rule
    /// for float32 data (the precision the weights are used in), scaled by the factors rather than
    /// by σ_max so that differences which cancel to rounding noise have rank 0.
    public var rank: Int
    /// The threshold `rank` counts against.
    public var rankTolerance: Double

    /// - Parameters:
    ///   - added: factors (U: d_out × k, V: d_in × k) whose products are added.
    ///   - removed: factors whose products are subtracted.
    /// - Throws: `SolverError.shapeMismatch` when factors disagree in shape,
    ///   `LinearAlgebraError` when an eigen-decomposition fails.
    public init(added: [(u: Matrix<Float>, v: Matrix<Float>)], removed: [(u: Matrix<Float>, v: Matrix<Float>)]) throws {
        let all = added + removed
        guard let first = all.first else {
            rows = 0; cols = 0; frobeniusNorm = 0; singularValues = []; rank = 0; rankTolerance = 0
            return
        }
        rows = first.u.rows
        cols = first.v.rows
        for (u, v) in all where u.rows != rows || v.rows != cols || u.cols != v.cols {
            throw SolverError.shapeMismatch(what: "low-rank factors", expected: "U \(rows)×k, V \(cols)×k",
                                            actual: "U \(u.rows)×\(u.cols), V \(v.rows)×\(v.cols)")
        }
        let width = all.reduce(0) { $0 + $1.u.cols }
        var a = Matrix<Double>(rows: rows, cols: width)
        var b = Matrix<Double>(rows: cols, cols: width)
        var column = 0
        for (index, (u, v)) in all.enumerated() {
            let sign: Double = index < added.count ? 1 : -1
            Self.place(u, into: &a, at: column, scale: sign)
            Self.place(v, into: &b, at: column, scale: 1)
            column += u.cols
        }
        let analysis = try Self.analyse(a: a, b: b)
        frobeniusNorm = analysis.norm
        singularValues = analysis.singularValues
        let tolerance = analysis.factorScale * Double(max(rows, cols)) * Double(Float.ulpOfOne)
        rankTolerance = tolerance
        rank = analysis.singularValues.filter { $0 > tolerance }.count
    }

    /// Writes `scale` · `factor` into the columns of `target` from `column` on (factors of a long
    /// history are placed once, not appended one after another).
    static func place(_ factor: Matrix<Float>, into target: inout Matrix<Double>, at column: Int, scale: Double) {
        let width = target.cols, k = factor.cols
        factor.values.withUnsafeBufferPointer { source in
            target.values.withUnsafeMutableBufferPointer { destination in
                for row in 0..<factor.rows {
                    for j in 0..<k { destination[row * width + column + j] = scale * Double(source[row * k + j]) }
                }
            }
        }
    }

    /// ‖A Bᵀ‖_F, the singular values of A Bᵀ (largest first) and ‖A‖₂ ‖B‖₂.
    ///
    /// ‖A Bᵀ‖²_F = tr(AᵀA BᵀB) = Σ_ij (AᵀA)_ij (BᵀB)_ij. The squared singular values are the
    /// eigenvalues of B AᵀA Bᵀ, whose non-zero ones are those of S (AᵀA) S with S = (BᵀB)^{1/2}
    /// (symmetric, r × r).
    static func analyse(a: Matrix<Double>, b: Matrix<Double>) throws
        -> (norm: Double, singularValues: [Double], factorScale: Double) {
        // A long history stacks more factor columns than D has rows or columns; then the dense
        // d_out × d_in product is the smaller problem (r × r eigen-decompositions grow as r³).
        if a.cols > min(a.rows, b.rows) { return try analyseDense(a: a, b: b) }
        return try analyseByGrams(a: a, b: b)
    }

    /// `analyse` through D itself: ‖D‖_F directly, σ² the eigenvalues of D Dᵀ or Dᵀ D (whichever
    /// is smaller), ‖A‖₂² and ‖B‖₂² the largest eigenvalues of A Aᵀ and B Bᵀ.
    static func analyseDense(a: Matrix<Double>, b: Matrix<Double>) throws
        -> (norm: Double, singularValues: [Double], factorScale: Double) {
        let d = a.multiplied(by: b, transposeOther: true)                     // (d_out, d_in)
        let norm = d.frobeniusNorm
        let gram = d.rows <= d.cols ? d.multiplied(by: d, transposeOther: true) : d.multiplied(by: d, transposeSelf: true)
        let squared = try SymmetricEigenDecomposition(gram).eigenvalues
        let largestA = try SymmetricEigenDecomposition(a.multiplied(by: a, transposeOther: true)).eigenvalues.last ?? 0
        let largestB = try SymmetricEigenDecomposition(b.multiplied(by: b, transposeOther: true)).eigenvalues.last ?? 0
        return (norm, squared.reversed().map { max($0, 0).squareRoot() }, (max(largestA, 0) * max(largestB, 0)).squareRoot())
    }

    /// `analyse` through the r × r Gram matrices of the factors.
    static func analyseByGrams(a: Matrix<Double>, b: Matrix<Double>) throws
        -> (norm: Double, singularValues: [Double], factorScale: Double) {
        let r = a.cols
        if r == 0 { return (0, [], 0) }
        let gramA = a.multiplied(by: a, transposeSelf: true)   // (r, r)
        let gramB = b.multiplied(by: b, transposeSelf: true)   // (r, r)
        var squaredNorm = 0.0
        for i in 0..<(r * r) { squaredNorm += gramA.values[i] * gramB.values[i] }

        let eigenB = try SymmetricEigenDecomposition(gramB)
        var scaled = eigenB.eigenvectors                        // Q diag(√λ)
        for j in 0..<r {
            let root = max(eigenB.eigenvalues[j], 0).squareRoot()
            for i in 0..<r { scaled[i, j] *= root }
        }
        let root = scaled.multiplied(by: eigenB.eigenvectors, transposeOther: true)   // S = Q diag(√λ) Qᵀ
        var m = root.multiplied(by: gramA).multiplied(by: root)                       // (r, r)
        for i in 0..<r {                                                              // exact symmetry for dsyevd
            for j in (i + 1)..<r {
                let mean = (m[i, j] + m[j, i]) / 2
                m[i, j] = mean
                m[j, i] = mean
            }
        }
        let squared = try SymmetricEigenDecomposition(m).eigenvalues
        let largestA = try SymmetricEigenDecomposition(gramA).eigenvalues.last ?? 0
        let largestB = eigenB.eigenvalues.last ?? 0
        return (max(squaredNorm, 0).squareRoot(), squared.reversed().map { max($0, 0).squareRoot() },
                (max(largestA, 0) * max(largestB, 0)).squareRoot())
    }
}
