// LowRankDifference against dense computations: the Frobenius norm, the singular values (from
// the eigenvalues of D Dᵀ), the rank of known constructions, exact cancellation, and shape errors.
import Tensors
import Testing
@testable import Solvers

@Suite("Low-rank weight difference")
struct LowRankDifferenceTests {
    static func factors(_ rank: Int, _ generator: inout SeededGenerator, rows: Int = 20, cols: Int = 30) -> (u: Matrix<Float>, v: Matrix<Float>) {
        (Matrix<Double>.gaussian(rows: rows, cols: rank, generator: &generator).toFloat(),
         Matrix<Double>.gaussian(rows: cols, cols: rank, generator: &generator).toFloat())
    }

    static func dense(_ added: [(u: Matrix<Float>, v: Matrix<Float>)], _ removed: [(u: Matrix<Float>, v: Matrix<Float>)]) -> Matrix<Double> {
        var d = Matrix<Double>(rows: 20, cols: 30)
        for (u, v) in added { d.addProduct(u.toDouble(), v.toDouble(), transposeB: true) }
        for (u, v) in removed { d.addProduct(u.toDouble(), v.toDouble(), transposeB: true, alpha: -1) }
        return d
    }

    @Test("norm and singular values equal the dense difference's; rank of known constructions")
    func againstDense() throws {
        var generator = SeededGenerator(seed: 5)
        let first = Self.factors(3, &generator), second = Self.factors(2, &generator), third = Self.factors(1, &generator)
        // (added, removed, expected rank)
        let cases: [([(u: Matrix<Float>, v: Matrix<Float>)], [(u: Matrix<Float>, v: Matrix<Float>)], Int)] = [
            ([first], [], 3),
            ([], [second], 2),
            ([first, second], [third], 6),
            ([first, second], [first], 2),                 // the shared part cancels
            ([(first.u, first.v), (first.u, first.v)], [], 3),   // repeated columns: rank unchanged
        ]
        for (added, removed, rank) in cases {
            let difference = try LowRankDifference(added: added, removed: removed)
            let d = Self.dense(added, removed)
            #expect(difference.rows == 20 && difference.cols == 30)
            #expect(difference.rank == rank, "rank \(difference.rank), expected \(rank), σ = \(difference.singularValues)")
            #expect(abs(difference.frobeniusNorm - d.frobeniusNorm) <= 1e-10 * d.frobeniusNorm)
            let expected = try SymmetricEigenDecomposition(d.multiplied(by: d, transposeOther: true)).eigenvalues
                .reversed().map { max($0, 0).squareRoot() }
            let worst = zip(difference.singularValues.prefix(rank), expected).map { abs($0 - $1) / expected[0] }.max() ?? 1
            #expect(worst < 1e-9, "largest relative singular value difference \(worst)")
            let squares = difference.singularValues.reduce(0) { $0 + $1 * $1 }
            #expect(abs(squares - d.frobeniusNorm * d.frobeniusNorm) <= 1e-9 * squares)
        }
    }

    @Test("more factor columns than D has rows: the dense path agrees with the Gram path and with D itself")
    func longHistory() throws {
        var generator = SeededGenerator(seed: 8)
        let added = (0..<5).map { _ in Self.factors(6, &generator) }, removed = [Self.factors(4, &generator)]
        let difference = try LowRankDifference(added: added, removed: removed)   // 34 columns > 20 rows
        let d = Self.dense(added, removed)
        #expect(difference.rank == 20 && difference.singularValues.count == 20)
        #expect(abs(difference.frobeniusNorm - d.frobeniusNorm) <= 1e-10 * d.frobeniusNorm)
        var a = Matrix<Double>(rows: 20, cols: 0), b = Matrix<Double>(rows: 30, cols: 0)
        for (u, v) in added { a = a.appendingColumns(u.toDouble()); b = b.appendingColumns(v.toDouble()) }
        for (u, v) in removed { a = a.appendingColumns(-1.0 * u.toDouble()); b = b.appendingColumns(v.toDouble()) }
        let byGrams = try LowRankDifference.analyseByGrams(a: a, b: b)
        let dense = try LowRankDifference.analyseDense(a: a, b: b)
        let worst = zip(dense.singularValues, byGrams.singularValues).map { abs($0 - $1) / byGrams.singularValues[0] }.max() ?? 1
        #expect(worst < 1e-9, "largest relative singular value difference \(worst)")
        #expect(abs(dense.norm - byGrams.norm) <= 1e-10 * byGrams.norm)
        #expect(abs(dense.factorScale - byGrams.factorScale) <= 1e-9 * byGrams.factorScale)

        let u = Matrix<Float>(rows: 20, cols: a.cols, values: a.values.map(Float.init))
        let v = Matrix<Float>(rows: 30, cols: b.cols, values: b.values.map(Float.init))
        let normByGrams = HealthProbe.frobeniusNorm(u: u.columns(0..<20), v: v.columns(0..<20))
        let direct = u.columns(0..<20).toDouble().multiplied(by: v.columns(0..<20).toDouble(), transposeOther: true).frobeniusNorm
        #expect(abs(normByGrams - direct) <= 1e-9 * direct)
        let wide = u.toDouble().multiplied(by: v.toDouble(), transposeOther: true).frobeniusNorm
        #expect(abs(HealthProbe.frobeniusNorm(u: u, v: v) - wide) <= 1e-9 * wide)
    }

    @Test("a delta minus itself has norm ~0 and rank 0; no factors give an empty difference")
    func cancellation() throws {
        var generator = SeededGenerator(seed: 6)
        let f = Self.factors(4, &generator)
        let zero = try LowRankDifference(added: [f], removed: [f])
        #expect(zero.rank == 0)
        #expect(zero.frobeniusNorm < 1e-9 * (try LowRankDifference(added: [f], removed: [])).frobeniusNorm)
        let empty = try LowRankDifference(added: [], removed: [])
        #expect(empty.rank == 0 && empty.frobeniusNorm == 0 && empty.singularValues.isEmpty)
    }

    @Test("factors of different shapes are a shape error")
    func shapes() throws {
        var generator = SeededGenerator(seed: 7)
        let f = Self.factors(2, &generator)
        let g = Self.factors(2, &generator, rows: 21)
        #expect(throws: SolverError.self) { _ = try LowRankDifference(added: [f], removed: [g]) }
    }
}
