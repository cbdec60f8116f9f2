// Matrix products through CBLAS (OpenBLAS). Every matmul-shaped computation in mledit ends
// here or in the raw-pointer `MatrixScalar.gemm` it wraps.
import COpenBLAS

extension Float: MatrixScalar {
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    public static func gemv(
        transpose: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(m), Int32(n),
                    alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    public static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(n), x, 1, y, 1)
    }
}

extension Double: MatrixScalar {
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double,
        c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    public static func gemv(
        transpose: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        x: UnsafePointer<Double>, beta: Double, y: UnsafeMutablePointer<Double>
    ) {
        cblas_dgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(m), Int32(n),
                    alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    public static func dot(_ n: Int, _ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>) -> Double {
        cblas_ddot(Int32(n), x, 1, y, 1)
    }
}

/// Process-wide BLAS settings.
public enum BLAS {
    /// Pins OpenBLAS's thread count. One thread makes reductions bit-reproducible run to run,
    /// which content-addressed commits rely on.
    public static func setThreadCount(_ count: Int) { openblas_set_num_threads(Int32(count)) }
    public static var threadCount: Int { Int(openblas_get_num_threads()) }
}

extension Matrix {
    /// `op(A) · op(B)` where op transposes when asked.
    public func multiplied(by other: Matrix, transposeSelf: Bool = false, transposeOther: Bool = false) -> Matrix {
        let m = transposeSelf ? cols : rows
        let k = transposeSelf ? rows : cols
        let kOther = transposeOther ? other.cols : other.rows
        let n = transposeOther ? other.rows : other.cols
        precondition(k == kOther, "inner dimensions \(k) and \(kOther) differ")
        var out = Matrix(rows: m, cols: n)
        if m == 0 || n == 0 { return out }
        if k == 0 { return out }
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                out.values.withUnsafeMutableBufferPointer { c in
                    Scalar.gemm(transposeA: transposeSelf, transposeB: transposeOther, m: m, n: n, k: k,
                                alpha: 1, a: a.baseAddress!, lda: cols, b: b.baseAddress!, ldb: other.cols,
                                beta: 0, c: c.baseAddress!, ldc: n)
                }
            }
        }
        return out
    }

    /// `self += alpha · op(A) · op(B)`.
    public mutating func addProduct(_ a: Matrix, _ b: Matrix, transposeA: Bool = false,
                                    transposeB: Bool = false, alpha: Scalar = 1) {
        let m = transposeA ? a.cols : a.rows
        let k = transposeA ? a.rows : a.cols
        let n = transposeB ? b.rows : b.cols
        precondition(m == rows && n == cols, "product \(m)×\(n) into \(rows)×\(cols)")
        precondition(k == (transposeB ? b.cols : b.rows), "inner dimensions differ")
        if m == 0 || n == 0 || k == 0 { return }
        let ldc = cols
        a.values.withUnsafeBufferPointer { pa in
            b.values.withUnsafeBufferPointer { pb in
                values.withUnsafeMutableBufferPointer { pc in
                    Scalar.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                alpha: alpha, a: pa.baseAddress!, lda: a.cols, b: pb.baseAddress!,
                                ldb: b.cols, beta: 1, c: pc.baseAddress!, ldc: ldc)
                }
            }
        }
    }

    /// `A x` (or `Aᵀ x`) for a plain vector.
    public func multiplied(vector x: [Scalar], transpose: Bool = false) -> [Scalar] {
        precondition(x.count == (transpose ? rows : cols), "vector of \(x.count) for \(rows)×\(cols)")
        var y = [Scalar](repeating: 0, count: transpose ? cols : rows)
        if rows == 0 || cols == 0 { return y }
        values.withUnsafeBufferPointer { a in
            x.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    Scalar.gemv(transpose: transpose, m: rows, n: cols, alpha: 1, a: a.baseAddress!,
                                lda: cols, x: px.baseAddress!, beta: 0, y: py.baseAddress!)
                }
            }
        }
        return y
    }
}
