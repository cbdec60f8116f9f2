// A dense row-major matrix over Float or Double in one contiguous array.
// Deliberately small: storage, shape and element access. Products and factorizations live in
// Matrix+BLAS.swift and Matrix+LAPACK.swift; there is no expression graph and no broadcasting.

/// The element types BLAS and LAPACK serve: `Float` and `Double`.
public protocol MatrixScalar: BinaryFloatingPoint, Sendable, Codable {
    // swiftlint:disable:next function_parameter_count
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
        a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int, beta: Self,
        c: UnsafeMutablePointer<Self>, ldc: Int)
    static func gemv(
        transpose: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        x: UnsafePointer<Self>, beta: Self, y: UnsafeMutablePointer<Self>)
    static func dot(_ n: Int, _ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>) -> Self
}

/// A row-major `rows × cols` matrix; element (r, c) is `values[r * cols + c]`.
/// Vectors are matrices with one column (or one row) where a shape matters.
public struct Matrix<Scalar: MatrixScalar>: Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    public var values: [Scalar]

    public init(rows: Int, cols: Int, repeating value: Scalar = 0) {
        precondition(rows >= 0 && cols >= 0, "negative matrix shape \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self.values = [Scalar](repeating: value, count: rows * cols)
    }

    public init(rows: Int, cols: Int, values: [Scalar]) {
        precondition(values.count == rows * cols, "\(values.count) values for a \(rows)×\(cols) matrix")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// A matrix from nested rows, for tests and small constants.
    public init(_ nestedRows: [[Scalar]]) {
        let cols = nestedRows.first?.count ?? 0
        precondition(nestedRows.allSatisfy { $0.count == cols }, "ragged rows")
        self.init(rows: nestedRows.count, cols: cols, values: nestedRows.flatMap { $0 })
    }

    public static func identity(_ n: Int) -> Matrix {
        var m = Matrix(rows: n, cols: n)
        for i in 0..<n { m.values[i * n + i] = 1 }
        return m
    }

    public var count: Int { values.count }
    public var shape: (rows: Int, cols: Int) { (rows, cols) }

    public subscript(row: Int, col: Int) -> Scalar {
        get { values[row * cols + col] }
        set { values[row * cols + col] = newValue }
    }

    public func row(_ r: Int) -> [Scalar] { Array(values[(r * cols)..<((r + 1) * cols)]) }

    public func column(_ c: Int) -> [Scalar] { (0..<rows).map { values[$0 * cols + c] } }

    public mutating func setRow(_ r: Int, _ newValues: [Scalar]) {
        precondition(newValues.count == cols, "row of \(newValues.count) for \(cols) columns")
        values.replaceSubrange((r * cols)..<((r + 1) * cols), with: newValues)
    }

    public mutating func setColumn(_ c: Int, _ newValues: [Scalar]) {
        precondition(newValues.count == rows, "column of \(newValues.count) for \(rows) rows")
        for r in 0..<rows { values[r * cols + c] = newValues[r] }
    }

    public func transposed() -> Matrix {
        var t = Matrix(rows: cols, cols: rows)
        values.withUnsafeBufferPointer { src in
            t.values.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] }
                }
            }
        }
        return t
    }

    /// Columns `range` as a new matrix.
    public func columns(_ range: Range<Int>) -> Matrix {
        var out = Matrix(rows: rows, cols: range.count)
        for r in 0..<rows {
            for (j, c) in range.enumerated() { out.values[r * range.count + j] = values[r * cols + c] }
        }
        return out
    }

    /// Columns side by side: `[self other]`.
    public func appendingColumns(_ other: Matrix) -> Matrix {
        precondition(other.rows == rows, "row mismatch \(rows) vs \(other.rows)")
        var out = Matrix(rows: rows, cols: cols + other.cols)
        let width = out.cols, left = cols, right = other.cols
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                out.values.withUnsafeMutableBufferPointer { o in
                    for r in 0..<rows {
                        if left > 0 { (o.baseAddress! + r * width).update(from: a.baseAddress! + r * left, count: left) }
                        if right > 0 { (o.baseAddress! + r * width + left).update(from: b.baseAddress! + r * right, count: right) }
                    }
                }
            }
        }
        return out
    }

    public func map<T: MatrixScalar>(_ transform: (Scalar) -> T) -> Matrix<T> {
        Matrix<T>(rows: rows, cols: cols, values: values.map(transform))
    }

    public var frobeniusNorm: Double {
        var sum = 0.0
        for v in values { sum += Double(v) * Double(v) }
        return sum.squareRoot()
    }

    /// `self += other`, element by element, in place.
    public mutating func add(_ other: Matrix) {
        precondition(rows == other.rows && cols == other.cols, "shape mismatch")
        other.values.withUnsafeBufferPointer { source in
            values.withUnsafeMutableBufferPointer { target in
                for i in 0..<target.count { target[i] += source[i] }
            }
        }
    }

    public static func + (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(lhs.rows == rhs.rows && lhs.cols == rhs.cols, "shape mismatch")
        var out = lhs
        for i in 0..<out.values.count { out.values[i] += rhs.values[i] }
        return out
    }

    public static func - (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(lhs.rows == rhs.rows && lhs.cols == rhs.cols, "shape mismatch")
        var out = lhs
        for i in 0..<out.values.count { out.values[i] -= rhs.values[i] }
        return out
    }

    public static func * (scale: Scalar, matrix: Matrix) -> Matrix {
        Matrix(rows: matrix.rows, cols: matrix.cols, values: matrix.values.map { $0 * scale })
    }

    /// Largest absolute element-wise difference, for tolerance checks.
    public func maxAbsDifference(_ other: Matrix) -> Double {
        precondition(rows == other.rows && cols == other.cols, "shape mismatch")
        var worst = 0.0
        for i in 0..<values.count { worst = Swift.max(worst, abs(Double(values[i]) - Double(other.values[i]))) }
        return worst
    }
}

extension Matrix where Scalar == Float {
    public func toDouble() -> Matrix<Double> { map { Double($0) } }
}

extension Matrix where Scalar == Double {
    public func toFloat() -> Matrix<Float> { map { Float($0) } }
}
