// A low-rank change of a weight matrix, Δ = U Vᵀ, kept as its two factors: the solvers produce
// it in Double, the ledger stores and applies it in Float. Only the factors and their product;
// encoding is the ledger's job, solving the solvers'.

/// Δ = U Vᵀ for a d_out × d_in weight, U d_out × rank and V d_in × rank.
public struct LowRankDelta<Scalar: MatrixScalar>: Sendable, Equatable {
    /// d_out × rank.
    public var u: Matrix<Scalar>
    /// d_in × rank.
    public var v: Matrix<Scalar>

    public init(u: Matrix<Scalar>, v: Matrix<Scalar>) {
        precondition(u.cols == v.cols, "U has \(u.cols) columns, V has \(v.cols)")
        self.u = u
        self.v = v
    }

    public var rows: Int { u.rows }
    public var cols: Int { v.rows }
    public var rank: Int { u.cols }

    /// The dense d_out × d_in matrix U Vᵀ.
    public func dense() -> Matrix<Scalar> { u.multiplied(by: v, transposeOther: true) }
}
