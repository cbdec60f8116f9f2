// Hand-computed checks of the matrix type, BLAS products, LAPACK solves and number codecs.
import Testing
@testable import Tensors

@Suite("Matrix and BLAS")
struct MatrixTests {
    @Test("GEMM matches the hand-computed product")
    func gemm() {
        let a = Matrix<Float>([[1, 2, 3], [4, 5, 6]])
        let b = Matrix<Float>([[7, 8], [9, 10], [11, 12]])
        #expect(a.multiplied(by: b).values == [58, 64, 139, 154])
        #expect(a.multiplied(by: a, transposeOther: true).values == [14, 32, 32, 77])
        #expect(a.multiplied(by: a, transposeSelf: true).values == [17, 22, 27, 22, 29, 36, 27, 36, 45])
    }

    @Test("GEMV and transposed GEMV")
    func gemv() {
        let a = Matrix<Double>([[1, 2], [3, 4], [5, 6]])
        #expect(a.multiplied(vector: [1, -1]) == [-1, -1, -1])
        #expect(a.multiplied(vector: [1, 0, 1], transpose: true) == [6, 8])
    }

    @Test("addProduct accumulates alpha·A·Bᵀ")
    func addProduct() {
        var c = Matrix<Double>([[1, 1], [1, 1]])
        c.addProduct(Matrix([[1, 2], [3, 4]]), Matrix([[1, 0], [0, 1]]), transposeB: true, alpha: 2)
        #expect(c.values == [3, 5, 7, 9])
    }

    @Test("transpose, columns and appendingColumns")
    func reshaping() {
        let a = Matrix<Float>([[1, 2, 3], [4, 5, 6]])
        #expect(a.transposed().values == [1, 4, 2, 5, 3, 6])
        #expect(a.columns(1..<3).values == [2, 3, 5, 6])
        #expect(a.appendingColumns(Matrix([[7], [8]])).values == [1, 2, 3, 7, 4, 5, 6, 8])
    }
}

@Suite("LAPACK")
struct LAPACKTests {
    @Test("Cholesky solve of a 2×2 system")
    func cholesky() throws {
        // [[4, 2], [2, 3]] x = [2, 1] -> x = [0.5, 0]
        let factor = try CholeskyFactorization(Matrix([[4, 2], [2, 3]]))
        let x = try factor.solve(Matrix([[2, 6], [1, 3]]))
        #expect(abs(x[0, 0] - 0.5) < 1e-14 && abs(x[1, 0]) < 1e-14)
        #expect(abs(x[0, 1] - 1.5) < 1e-14 && abs(x[1, 1] - 0) < 1e-14)
        #expect(factor.reciprocalCondition > 0.1)
    }

    @Test("Cholesky rejects an indefinite and a singular matrix")
    func choleskyFailures() {
        #expect(throws: LinearAlgebraError.self) { try CholeskyFactorization(Matrix([[1, 2], [2, 1]])) }
        #expect(throws: LinearAlgebraError.self) {
            try CholeskyFactorization(Matrix([[1, 1], [1, 1 + 1e-17]]))
        }
    }

    @Test("general solve with pivoting")
    func generalSolve() throws {
        // [[0, 1], [2, 0]] x = [3, 4] -> x = [2, 3]
        let x = try Matrix<Double>([[0, 1], [2, 0]]).solve(Matrix([[3], [4]]))
        #expect(abs(x[0, 0] - 2) < 1e-14 && abs(x[1, 0] - 3) < 1e-14)
        #expect(throws: LinearAlgebraError.self) { try Matrix<Double>([[1, 2], [2, 4]]).solve(Matrix([[1], [1]])) }
    }

    @Test("symmetric eigen-decomposition of [[2,1],[1,2]]")
    func eigen() throws {
        let e = try SymmetricEigenDecomposition(Matrix([[2, 1], [1, 2]]))
        #expect(abs(e.eigenvalues[0] - 1) < 1e-14 && abs(e.eigenvalues[1] - 3) < 1e-14)
        let v = e.eigenvectors.column(1)
        #expect(abs(abs(v[0]) - 0.5.squareRoot()) < 1e-14 && abs(v[0] - v[1]) < 1e-14)
        let v0 = e.eigenvectors.column(0)
        #expect(abs(v0[0] + v0[1]) < 1e-14)
    }
}

@Suite("Half precision and RNG")
struct CodecTests {
    @Test("binary16 golden bytes from the format reference")
    func half() {
        #expect(HalfPrecision.halfFromFloat(1.0) == 0x3C00)
        #expect(HalfPrecision.halfFromFloat(-2.0) == 0xC000)
        #expect(HalfPrecision.halfFromFloat(65504) == 0x7BFF)
        #expect(HalfPrecision.halfFromFloat(65520) == 0x7C00)  // rounds up to infinity
        #expect(HalfPrecision.halfFromFloat(0x1p-14) == 0x0400)
        #expect(HalfPrecision.halfFromFloat(0x1p-24) == 0x0001)
        #expect(HalfPrecision.floatFromHalf(0x0001) == 0x1p-24)
        #expect(HalfPrecision.floatFromHalf(0x2808) == 0.031494140625)
        // 1 + 2^-11 is halfway between 1 and the next half: ties to even (1.0).
        #expect(HalfPrecision.halfFromFloat(1 + 0x1p-11) == 0x3C00)
        #expect(HalfPrecision.halfFromFloat(1 + 3 * 0x1p-11) == 0x3C02)
        #expect(HalfPrecision.floatFromHalf(HalfPrecision.halfFromFloat(.nan)).isNaN)
    }

    @Test("every half round-trips through Float32")
    func halfRoundTrip() {
        for bits in UInt16.min...UInt16.max {
            let f = HalfPrecision.floatFromHalf(bits)
            if f.isNaN { continue }
            #expect(HalfPrecision.halfFromFloat(f) == bits)
            #expect(f == Float(Float16(bitPattern: bits)))
        }
    }

    @Test("bfloat16 rounds to nearest even")
    func bfloat() {
        #expect(HalfPrecision.floatFromBFloat16(0x3F80) == 1.0)
        #expect(HalfPrecision.bfloat16FromFloat(1.0) == 0x3F80)
        #expect(HalfPrecision.bfloat16FromFloat(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie -> even
        #expect(HalfPrecision.bfloat16FromFloat(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie -> even
        #expect(HalfPrecision.bfloat16FromFloat(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
    }

    @Test("seeded generator is deterministic and uniform-ish")
    func rng() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let xs = (0..<1000).map { _ in a.nextUnitDouble() }
        #expect(xs == (0..<1000).map { _ in b.nextUnitDouble() })
        #expect(xs != (0..<1000).map { _ in c.nextUnitDouble() })
        let mean = xs.reduce(0, +) / 1000
        #expect(abs(mean - 0.5) < 0.05)
        #expect(xs.allSatisfy { $0 >= 0 && $0 < 1 })
    }
}
