// Matrix products through CBLAS (OpenBLAS). Every matmul-shaped computation in mledit ends
// here or in the raw-pointer `MatrixScalar.gemm` it wraps.
import COpenBLAS

extension Float: MatrixScalar {
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        GEMMTiling.run(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
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
        GEMMTiling.run(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
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
    /// OpenBLAS's own thread count: always 1 once mledit computes (see `ComputeThreads`).
    public static var threadCount: Int { Int(openblas_get_num_threads()) }
}

extension Matrix where Scalar == Float {
    /// Upper triangle of Bᵀ B for the block B of rows `rows` (by SSYRK) written to `out`
    /// (cols × cols, row-major); the strict lower triangle of `out` is left as it was.
    public func upperGram(rows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= self.rows, "rows \(rows) of a \(self.rows)-row matrix")
        if cols == 0 { return }
        ComputeThreads.pinBLASToOneThread()
        let n = cols
        values.withUnsafeBufferPointer { b in
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(rows.count), 1, b.baseAddress! + rows.lowerBound * n,
                        Int32(n), 0, out, Int32(n))
        }
    }
}

extension Matrix where Scalar == Double {
    /// Upper triangle of `self += Bᵀ B` for a block B (rows × cols of self), by DSYRK: half the
    /// work of the full product. The strict lower triangle is left as it was; `mirrorUpper` fills it.
    public mutating func addUpperGram(of block: Matrix<Double>) {
        precondition(rows == cols && block.cols == cols, "Gram of \(block.rows)×\(block.cols) into \(rows)×\(cols)")
        if block.rows == 0 || cols == 0 { return }
        ComputeThreads.pinBLASToOneThread()
        let n = cols
        block.values.withUnsafeBufferPointer { b in
            values.withUnsafeMutableBufferPointer { c in
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(block.rows), 1, b.baseAddress!, Int32(n),
                            1, c.baseAddress!, Int32(n))
            }
        }
    }

    /// Copies the upper triangle onto the lower one.
    public mutating func mirrorUpper() {
        let n = rows
        values.withUnsafeMutableBufferPointer { v in
            for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { v[j * n + i] = v[i * n + j] } }
        }
    }
}

/// A large product cut into pieces run on `ComputeThreads`. The cut depends only on the shape,
/// so each output element is computed by the same calls in the same order whatever the thread
/// count. A product with a long inner dimension (the LM head's backward) is cut along k, its
/// partial products summed in piece order; otherwise the longer output dimension is cut, which
/// repeats only the packing of the small operand.
enum GEMMTiling {
    /// Products below this many multiply-adds per piece run as one call.
    static let minimumPieceWork = 1 << 23
    static let maximumPieces = 4
    static let minimumPieceExtent = 128

    enum Cut: Equatable { case none, rows(Int), columns(Int), inner(Int) }

    static func cut(m: Int, n: Int, k: Int) -> Cut {
        let work = m * n * k
        func count(_ extent: Int) -> Int { min(maximumPieces, work / minimumPieceWork, extent / minimumPieceExtent) }
        if k >= 8 * max(m, n), count(k) > 1 { return .inner(count(k)) }
        if m >= n { return count(m) > 1 ? .rows(count(m)) : .none }
        return count(n) > 1 ? .columns(count(n)) : .none
    }

    /// `count` near-equal consecutive ranges of 0..<extent, boundaries on multiples of 16.
    static func ranges(_ extent: Int, _ count: Int) -> [Range<Int>] {
        let size = ((extent + count - 1) / count + 15) / 16 * 16
        return stride(from: 0, to: extent, by: size).map { $0..<min(extent, $0 + size) }
    }

    typealias Call<S> = (Bool, Bool, Int, Int, Int, S, UnsafePointer<S>, Int, UnsafePointer<S>, Int, S, UnsafeMutablePointer<S>, Int) -> Void

    /// `C = alpha·op(A)·op(B) + beta·C` through `gemm` (one BLAS call), in pieces when large.
    static func run<S: BinaryFloatingPoint>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: S,
                                            a: UnsafePointer<S>, lda: Int, b: UnsafePointer<S>, ldb: Int, beta: S,
                                            c: UnsafeMutablePointer<S>, ldc: Int, gemm: Call<S>) {
        ComputeThreads.pinBLASToOneThread()
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        switch cut(m: m, n: n, k: k) {
        case .none:
            gemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        case .rows(let count):
            let pieces = ranges(m, count)
            ComputeThreads.forEach(pieces.count) { p in
                let r = pieces[p]
                let pieceA = transposeA ? a + r.lowerBound : a + r.lowerBound * lda
                gemm(transposeA, transposeB, r.count, n, k, alpha, pieceA, lda, b, ldb, beta, c + r.lowerBound * ldc, ldc)
            }
        case .columns(let count):
            let pieces = ranges(n, count)
            ComputeThreads.forEach(pieces.count) { p in
                let r = pieces[p]
                let pieceB = transposeB ? b + r.lowerBound * ldb : b + r.lowerBound
                gemm(transposeA, transposeB, m, r.count, k, alpha, a, lda, pieceB, ldb, beta, c + r.lowerBound, ldc)
            }
        case .inner(let count):
            let pieces = ranges(k, count)
            let partials = UnsafeMutablePointer<S>.allocate(capacity: pieces.count * m * n)
            defer { partials.deallocate() }
            nonisolated(unsafe) let out = partials
            ComputeThreads.forEach(pieces.count) { p in
                let r = pieces[p]
                let pieceA = transposeA ? a + r.lowerBound * lda : a + r.lowerBound
                let pieceB = transposeB ? b + r.lowerBound : b + r.lowerBound * ldb
                gemm(transposeA, transposeB, m, n, r.count, 1, pieceA, lda, pieceB, ldb, 0, out + p * m * n, n)
            }
            for i in 0..<m {
                for j in 0..<n {
                    var sum = partials[i * n + j]
                    for p in 1..<pieces.count { sum += partials[p * m * n + i * n + j] }
                    let row = c + i * ldc
                    row[j] = beta == 0 ? alpha * sum : alpha * sum + beta * row[j]
                }
            }
        }
    }
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
