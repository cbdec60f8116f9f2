// Factorizations and solves through LAPACK (the Fortran symbols libopenblas exports), in
// Float64 only: the editing solvers need the precision, and nothing hot runs here.
// LAPACK is column-major; every routine used is on a symmetric matrix or takes Aᵀ explicitly.
import COpenBLAS

/// A failure of a linear-algebra routine, with what was being solved.
public enum LinearAlgebraError: Error, Equatable, CustomStringConvertible {
    /// Cholesky found a non-positive pivot: the matrix is not positive definite.
    case notPositiveDefinite(order: Int, pivot: Int)
    /// The system is singular or too ill-conditioned to trust (reciprocal condition number given).
    case singular(order: Int, reciprocalCondition: Double)
    case lapackFailure(routine: String, info: Int)

    public var description: String {
        switch self {
        case .notPositiveDefinite(let n, let pivot):
            return "matrix of order \(n) is not positive definite (pivot \(pivot))"
        case .singular(let n, let rcond):
            return "matrix of order \(n) is singular or ill-conditioned (reciprocal condition \(rcond))"
        case .lapackFailure(let routine, let info):
            return "LAPACK \(routine) failed with info \(info)"
        }
    }
}

/// The lower Cholesky factor of a symmetric positive definite matrix, ready to solve with.
public struct CholeskyFactorization: Sendable {
    public let order: Int
    /// Column-major factor as LAPACK stores it (row-major upper = column-major lower).
    let factor: [Double]
    /// Estimated reciprocal 1-norm condition number of the factored matrix.
    public let reciprocalCondition: Double

    /// Factors `a` (symmetric; only its lower triangle is read).
    /// - Throws: `LinearAlgebraError.notPositiveDefinite` or `.singular` when the reciprocal
    ///   condition number is below `minimumReciprocalCondition`.
    public init(_ a: Matrix<Double>, minimumReciprocalCondition: Double = 1e-14) throws {
        precondition(a.rows == a.cols, "Cholesky of a non-square \(a.rows)×\(a.cols) matrix")
        let n = a.rows
        order = n
        var work = a.values
        var norm1 = 0.0
        for c in 0..<n {
            var s = 0.0
            for r in 0..<n { s += abs(a.values[r * n + c]) }
            norm1 = max(norm1, s)
        }
        var nn = Int32(n), lda = Int32(max(n, 1)), info: Int32 = 0
        if n > 0 { dpotrf_("U", &nn, &work, &lda, &info, 1) }
        if info > 0 { throw LinearAlgebraError.notPositiveDefinite(order: n, pivot: Int(info)) }
        if info < 0 { throw LinearAlgebraError.lapackFailure(routine: "dpotrf", info: Int(info)) }
        var rcond = 1.0
        if n > 0 {
            var scratch = [Double](repeating: 0, count: 3 * n)
            var iwork = [Int32](repeating: 0, count: n)
            dpocon_("U", &nn, work, &lda, &norm1, &rcond, &scratch, &iwork, &info, 1)
            if info != 0 { throw LinearAlgebraError.lapackFailure(routine: "dpocon", info: Int(info)) }
        }
        if !(rcond >= minimumReciprocalCondition) {
            throw LinearAlgebraError.singular(order: n, reciprocalCondition: rcond)
        }
        factor = work
        reciprocalCondition = rcond
    }

    /// Solves `A X = B` for every column of `b`.
    public func solve(_ b: Matrix<Double>) throws -> Matrix<Double> {
        precondition(b.rows == order, "right-hand side has \(b.rows) rows, system has \(order)")
        if b.cols == 0 || order == 0 { return b }
        // Column-major B is row-major Bᵀ.
        var columnMajor = b.transposed().values
        var n = Int32(order), nrhs = Int32(b.cols), lda = Int32(order), ldb = Int32(order), info: Int32 = 0
        dpotrs_("U", &n, &nrhs, factor, &lda, &columnMajor, &ldb, &info, 1)
        if info != 0 { throw LinearAlgebraError.lapackFailure(routine: "dpotrs", info: Int(info)) }
        return Matrix(rows: b.cols, cols: order, values: columnMajor).transposed()
    }
}

/// Eigenvalues (ascending) and orthonormal eigenvectors (as columns) of a symmetric matrix.
public struct SymmetricEigenDecomposition: Sendable {
    public let eigenvalues: [Double]
    /// Column j is the eigenvector of `eigenvalues[j]`.
    public let eigenvectors: Matrix<Double>

    public init(_ a: Matrix<Double>) throws {
        precondition(a.rows == a.cols, "eigen-decomposition of a non-square matrix")
        let n = a.rows
        var work = a.values  // symmetric: row-major == column-major
        var w = [Double](repeating: 0, count: n)
        var nn = Int32(n), lda = Int32(max(n, 1)), info: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1
        var workQuery = 0.0
        var iworkQuery: Int32 = 0
        if n > 0 {
            dsyevd_("V", "U", &nn, &work, &lda, &w, &workQuery, &lwork, &iworkQuery, &liwork, &info, 1, 1)
            if info != 0 { throw LinearAlgebraError.lapackFailure(routine: "dsyevd", info: Int(info)) }
            lwork = Int32(workQuery)
            liwork = iworkQuery
            var scratch = [Double](repeating: 0, count: Int(lwork))
            var iscratch = [Int32](repeating: 0, count: Int(liwork))
            dsyevd_("V", "U", &nn, &work, &lda, &w, &scratch, &lwork, &iscratch, &liwork, &info, 1, 1)
            if info != 0 { throw LinearAlgebraError.lapackFailure(routine: "dsyevd", info: Int(info)) }
        }
        eigenvalues = w
        // Column-major eigenvector storage read as row-major is the transpose.
        eigenvectors = Matrix(rows: n, cols: n, values: work).transposed()
    }
}

extension Matrix where Scalar == Double {
    /// Solves the general square system `self · X = b` with LU and partial pivoting.
    /// - Throws: `LinearAlgebraError.singular` when a pivot is exactly zero.
    public func solve(_ b: Matrix<Double>) throws -> Matrix<Double> {
        precondition(rows == cols && b.rows == rows, "solve needs a square system")
        if rows == 0 || b.cols == 0 { return b }
        var a = transposed().values
        var rhs = b.transposed().values
        var n = Int32(rows), nrhs = Int32(b.cols), lda = Int32(rows), ldb = Int32(rows), info: Int32 = 0
        var pivots = [Int32](repeating: 0, count: rows)
        dgesv_(&n, &nrhs, &a, &lda, &pivots, &rhs, &ldb, &info)
        if info > 0 { throw LinearAlgebraError.singular(order: rows, reciprocalCondition: 0) }
        if info < 0 { throw LinearAlgebraError.lapackFailure(routine: "dgesv", info: Int(info)) }
        return Matrix(rows: b.cols, cols: rows, values: rhs).transposed()
    }
}
