// The closed forms' defining properties on random, well-conditioned Float64 data: exact
// memorization (ROME, EMMET), a vanishing gradient (MEMIT), factored = dense, λ → ∞, AlphaEdit's
// null space, and sequential solving with memory = one-shot solving of the union.
import Testing
import Tensors
@testable import Solvers

/// Random problem data with fixed seeds: W (dOut × dIn), C0 from 60 keys, facts' keys and values.
struct RandomEditData {
    let dIn = 12
    let dOut = 7
    var w: Matrix<Double>
    var c0: Matrix<Double>
    var generator: SeededGenerator

    init(seed: UInt64) {
        generator = SeededGenerator(seed: seed)
        w = Matrix.gaussian(rows: dOut, cols: dIn, generator: &generator)
        let k0 = Matrix<Double>.gaussian(rows: dIn, cols: 60, generator: &generator)
        c0 = (1.0 / 60) * k0.multiplied(by: k0, transposeOther: true)
    }

    mutating func keys(_ n: Int) -> Matrix<Double> { Matrix.gaussian(rows: dIn, cols: n, generator: &generator) }
    mutating func values(_ n: Int) -> Matrix<Double> { Matrix.gaussian(rows: dOut, cols: n, generator: &generator) }
}

/// Largest |a − b| over the largest |b|.
func relativeDifference(_ a: Matrix<Double>, _ b: Matrix<Double>) -> Double {
    let scale = b.values.map { abs($0) }.max() ?? 0
    return a.maxAbsDifference(b) / max(scale, 1e-300)
}

func problem(_ data: RandomEditData, keys: Matrix<Double>, values: Matrix<Double>, weights: Matrix<Double>? = nil,
             previous: Matrix<Double>? = nil) -> PreservationProblem {
    let w = weights ?? data.w
    let residual = values - w.multiplied(by: keys)
    return PreservationProblem(layer: 3, residual: residual, keys: keys, previousKeys: previous, moment: data.c0,
                               factLabels: (0..<keys.cols).map { "line \($0 + 1)" })
}

/// ‖½∇‖ of MEMIT's objective at Δ: ‖Δ P + ((W+Δ)K_E − V_E) K_Eᵀ‖ with P = λC0 plus the memory's terms.
func memitGradientNorm(_ data: RandomEditData, delta: Matrix<Double>, keys k: Matrix<Double>, values v: Matrix<Double>,
                       preservation: Matrix<Double>) -> Double {
    var gradient = delta.multiplied(by: preservation)
    gradient.addProduct((data.w + delta).multiplied(by: k) - v, k, transposeB: true)
    return gradient.frobeniusNorm
}

@Suite("Closed-form solvers")
struct PreservationSolverTests {
    let hyper = EditHyperparameters(layers: [3], preservationWeight: 2.5, emmetRidge: 0,
                                    nullSpaceThreshold: 1e-4, alphaEditRegularization: 1e-3)

    @Test("ROME and EMMET reproduce V_E exactly and hold earlier keys")
    func exactMemorization() throws {
        var data = RandomEditData(seed: 1)
        for (method, n) in [(EditMethod.rome, 1), (.emmet, 4)] {
            let k = data.keys(n), v = data.values(n), previous = data.keys(3)
            let delta = try PreservationSolver.solve(method, problem(data, keys: k, values: v, previous: previous),
                                                     hyperparameters: hyper)
            #expect(delta.rank == n)
            let edited = data.w + delta.dense()
            let error = relativeDifference(edited.multiplied(by: k), v)
            #expect(error < 1e-8, "\(method): largest relative difference \(error)")
            let drift = delta.dense().multiplied(by: previous).values.map { abs($0) }.max() ?? 0
            #expect(drift < 1e-8 * delta.dense().frobeniusNorm, "\(method): earlier keys moved by \(drift)")
        }
    }

    @Test("ROME is the rank-one formula (v − Wk)/(kᵀC0⁻¹k) · (C0⁻¹k)ᵀ")
    func romeFormula() throws {
        var data = RandomEditData(seed: 2)
        let k = data.keys(1), v = data.values(1)
        let delta = try PreservationSolver.solve(.rome, problem(data, keys: k, values: v), hyperparameters: hyper)
        let c0k = try data.c0.solve(k)
        let scale = k.multiplied(by: c0k, transposeSelf: true)[0, 0]
        let expected = (1 / scale) * (v - data.w.multiplied(by: k)).multiplied(by: c0k, transposeOther: true)
        let error = relativeDifference(delta.dense(), expected)
        #expect(error < 1e-10, "largest relative difference \(error)")
    }

    @Test("MEMIT's objective gradient vanishes at its solution")
    func memitGradient() throws {
        var data = RandomEditData(seed: 3)
        let k = data.keys(5), v = data.values(5), previous = data.keys(2)
        let p = problem(data, keys: k, values: v, previous: previous)
        let delta = try PreservationSolver.solve(.memit, p, hyperparameters: hyper).dense()
        // ½∇ = Δ(λC0 + K_p K_pᵀ) + ((W+Δ)K_E − V_E) K_Eᵀ
        var preservation = hyper.preservationWeight * data.c0
        preservation.addProduct(previous, previous, transposeB: true)
        let gradient = memitGradientNorm(data, delta: delta, keys: k, values: v, preservation: preservation)
        let scale = p.residual.multiplied(by: k, transposeOther: true).frobeniusNorm
        #expect(gradient < 1e-10 * scale, "gradient norm \(gradient) of scale \(scale)")
    }

    @Test("memory_weight w scales ‖ΔK_p‖² in MEMIT's objective: its gradient vanishes, and a larger w holds the earlier keys closer")
    func memitMemoryWeight() throws {
        var data = RandomEditData(seed: 5)
        let k = data.keys(4), v = data.values(4), previous = data.keys(3)
        let p = problem(data, keys: k, values: v, previous: previous)
        var held: [Double] = []
        for weight in [1.0, 10, 1000] {
            var h = hyper
            h.memoryWeight = weight
            let delta = try PreservationSolver.solve(.memit, p, hyperparameters: h).dense()
            // ½∇ = Δ(λC0 + w K_p K_pᵀ) + ((W+Δ)K_E − V_E) K_Eᵀ
            var preservation = hyper.preservationWeight * data.c0
            preservation.addProduct(previous, previous, transposeB: true, alpha: weight)
            let gradient = memitGradientNorm(data, delta: delta, keys: k, values: v, preservation: preservation)
            let scale = p.residual.multiplied(by: k, transposeOther: true).frobeniusNorm * weight
            #expect(gradient < 1e-10 * scale, "w \(weight): gradient norm \(gradient)")
            held.append(delta.multiplied(by: previous).frobeniusNorm)
        }
        #expect(held[0] > held[1] && held[1] > held[2], "‖ΔK_p‖ over w = 1, 10, 1000: \(held)")
        var unweighted = hyper
        unweighted.memoryWeight = 1
        #expect(try PreservationSolver.solve(.memit, p, hyperparameters: unweighted).dense()
                == PreservationSolver.solve(.memit, p, hyperparameters: hyper).dense())
        unweighted.memoryWeight = 0
        #expect(throws: SolverError.self) { try unweighted.validate(layerCount: 4) }
    }

    @Test("memory_context_weight c: MEMIT's gradient vanishes with c‖ΔK_c‖², EMMET preserves C0 + (c/λ)K_cK_cᵀ, a larger c holds K_c closer")
    func contextKeysHeld() throws {
        var data = RandomEditData(seed: 6)
        let k = data.keys(3), v = data.values(3), previous = data.keys(2), context = data.keys(5)
        var p = problem(data, keys: k, values: v, previous: previous)
        let without = try PreservationSolver.solve(.memit, p, hyperparameters: hyper).dense()
        p.contextKeys = context
        var held: [Double] = []
        for weight in [1.0, 10, 1000] {
            var h = hyper
            h.memoryContextWeight = weight
            let delta = try PreservationSolver.solve(.memit, p, hyperparameters: h).dense()
            // ½∇ = Δ(λC0 + K_p K_pᵀ + c K_c K_cᵀ) + ((W+Δ)K_E − V_E) K_Eᵀ
            var preservation = hyper.preservationWeight * data.c0
            preservation.addProduct(previous, previous, transposeB: true)
            preservation.addProduct(context, context, transposeB: true, alpha: weight)
            let gradient = memitGradientNorm(data, delta: delta, keys: k, values: v, preservation: preservation)
            let scale = p.residual.multiplied(by: k, transposeOther: true).frobeniusNorm * weight
            #expect(gradient < 1e-10 * scale, "c \(weight): gradient norm \(gradient)")
            held.append(delta.multiplied(by: context).frobeniusNorm)
        }
        #expect(held[0] > held[1] && held[1] > held[2], "‖ΔK_c‖ over c = 1, 10, 1000: \(held)")
        #expect(without.multiplied(by: context).frobeniusNorm > held[0])

        var h = hyper
        h.memoryContextWeight = 4
        let emmet = try PreservationSolver.solve(.emmet, p, hyperparameters: h).dense()
        var plain = problem(data, keys: k, values: v, previous: previous)
        plain.moment.addProduct(context, context, transposeB: true, alpha: 4 / hyper.preservationWeight)
        let expected = try PreservationSolver.solve(.emmet, plain, hyperparameters: hyper).dense()
        #expect(relativeDifference(emmet, expected) < 1e-10, "EMMET \(relativeDifference(emmet, expected))")
        #expect(relativeDifference((data.w + emmet).multiplied(by: k), v) < 1e-8, "EMMET still memorizes V_E")

        h.memoryContextWeight = -1
        #expect(throws: SolverError.self) { try h.validate(layerCount: 4) }
    }

    @Test("factored U Vᵀ equals the dense formula for MEMIT, EMMET and AlphaEdit")
    func factoredEqualsDense() throws {
        var data = RandomEditData(seed: 4)
        let k = data.keys(3), v = data.values(3), previous = data.keys(2)
        let p = problem(data, keys: k, values: v, previous: previous)
        let r = p.residual

        // MEMIT: R K_Eᵀ A⁻¹, A = λC0 + K_p K_pᵀ + K_E K_Eᵀ (A symmetric: (A⁻¹ K_E R ᵀ)ᵀ).
        var a = hyper.preservationWeight * data.c0
        a.addProduct(previous, previous, transposeB: true)
        a.addProduct(k, k, transposeB: true)
        let memitDense = try a.solve(k.multiplied(by: r, transposeOther: true)).transposed()
        let memit = try PreservationSolver.solve(.memit, p, hyperparameters: hyper).dense()
        #expect(relativeDifference(memit, memitDense) < 1e-10, "MEMIT \(relativeDifference(memit, memitDense))")

        // EMMET without memory: R (K_Eᵀ C0⁻¹ K_E)⁻¹ K_Eᵀ C0⁻¹.
        let bare = problem(data, keys: k, values: v)
        let c0InvK = try data.c0.solve(k)
        let m = k.multiplied(by: c0InvK, transposeSelf: true)
        let emmetDense = r.multiplied(by: try m.solve(c0InvK.transposed()))
        let emmet = try PreservationSolver.solve(.emmet, bare, hyperparameters: hyper).dense()
        #expect(relativeDifference(emmet, emmetDense) < 1e-10, "EMMET \(relativeDifference(emmet, emmetDense))")

        // AlphaEdit: R K_Eᵀ P (K_p K_pᵀ P + K_E K_Eᵀ P + αI)⁻¹ with an explicit projector.
        var lowRank = data
        let basis = lowRank.keys(7)
        lowRank.c0 = basis.multiplied(by: basis, transposeOther: true) + 1e-9 * Matrix<Double>.identity(lowRank.dIn)
        let projection = try NullSpaceProjection(moment: lowRank.c0, threshold: hyper.nullSpaceThreshold, layer: 3)
        #expect(projection.basis.cols == lowRank.dIn - 7)
        let q = projection.basis
        let projector = q.multiplied(by: q, transposeOther: true)
        let qk = q.multiplied(by: k, transposeSelf: true)
        let alpha = hyper.alphaEditRegularization * qk.values.reduce(0) { $0 + $1 * $1 } / Double(k.cols)
        var b = Matrix<Double>.identity(lowRank.dIn)
        b = alpha * b
        b.addProduct(previous.multiplied(by: previous, transposeOther: true), projector)
        b.addProduct(k.multiplied(by: k, transposeOther: true), projector)
        let x = r.multiplied(by: k, transposeOther: true).multiplied(by: projector)   // R K_Eᵀ P
        let alphaDense = try b.transposed().solve(x.transposed()).transposed()
        let ap = problem(lowRank, keys: k, values: v, previous: previous)
        let alphaEdit = try PreservationSolver.solve(.alphaedit, ap, hyperparameters: hyper, nullSpace: projection).dense()
        #expect(relativeDifference(alphaEdit, alphaDense) < 1e-9, "AlphaEdit \(relativeDifference(alphaEdit, alphaDense))")
    }

    @Test("λ → ∞ makes MEMIT's Δ vanish")
    func memitLargeLambda() throws {
        var data = RandomEditData(seed: 5)
        let p = problem(data, keys: data.keys(3), values: data.values(3))
        var small = hyper, large = hyper
        small.preservationWeight = 1
        large.preservationWeight = 1e12
        let reference = try PreservationSolver.solve(.memit, p, hyperparameters: small).dense().frobeniusNorm
        let vanishing = try PreservationSolver.solve(.memit, p, hyperparameters: large).dense().frobeniusNorm
        #expect(reference > 0.1)
        #expect(vanishing < 1e-10 * reference, "‖Δ‖ = \(vanishing) at λ = 1e12, \(reference) at λ = 1")
    }

    @Test("AlphaEdit leaves protected keys' outputs unchanged and memorizes new ones")
    func alphaEditNullSpace() throws {
        var data = RandomEditData(seed: 6)
        let basis = data.keys(6)
        data.c0 = basis.multiplied(by: basis, transposeOther: true) + 1e-10 * Matrix<Double>.identity(data.dIn)
        let protected = basis.multiplied(by: Matrix<Double>.gaussian(rows: 6, cols: 20, generator: &data.generator))
        let k = data.keys(2), v = data.values(2)
        var h = hyper
        h.alphaEditRegularization = 1e-9
        let p = problem(data, keys: k, values: v)
        let delta = try PreservationSolver.solve(.alphaedit, p, hyperparameters: h).dense()
        let moved = delta.multiplied(by: protected).frobeniusNorm
        let scale = delta.frobeniusNorm * protected.frobeniusNorm
        #expect(moved < 1e-10 * scale, "protected outputs moved by \(moved) (scale \(scale))")
        let error = relativeDifference((data.w + delta).multiplied(by: k), v)
        #expect(error < 1e-6, "new facts' values off by \(error)")
    }

    @Test("sequential batches with memory equal the one-shot union (MEMIT and EMMET)")
    func sequentialEqualsUnion() throws {
        var data = RandomEditData(seed: 7)
        let k1 = data.keys(3), v1 = data.values(3), k2 = data.keys(2), v2 = data.values(2)
        for method in [EditMethod.memit, .emmet] {
            let d1 = try PreservationSolver.solve(method, problem(data, keys: k1, values: v1), hyperparameters: hyper)
            let w1 = data.w + d1.dense()
            let d2 = try PreservationSolver.solve(method, problem(data, keys: k2, values: v2, weights: w1, previous: k1),
                                                  hyperparameters: hyper)
            #expect(d2.rank == 2)
            let sequential = w1 + d2.dense()
            let union = try PreservationSolver.solve(
                method, problem(data, keys: k1.appendingColumns(k2), values: v1.appendingColumns(v2)),
                hyperparameters: hyper)
            let oneShot = data.w + union.dense()
            let error = relativeDifference(sequential, oneShot)
            #expect(error < 1e-8, "\(method): sequential vs union differ by \(error)")
        }
    }

    @Test("earlier facts given by their Gram K_p K_pᵀ solve as given by their keys (MEMIT and AlphaEdit)")
    func gramEqualsKeys() throws {
        var data = RandomEditData(seed: 12)
        let k = data.keys(3), v = data.values(3), previous = data.keys(40)
        let gram = previous.multiplied(by: previous, transposeOther: true)
        let basis = data.keys(7)
        var lowRank = data
        lowRank.c0 = basis.multiplied(by: basis, transposeOther: true) + 1e-9 * Matrix<Double>.identity(data.dIn)
        for (method, source) in [(EditMethod.memit, data), (.alphaedit, lowRank)] {
            let byKeys = problem(source, keys: k, values: v, previous: previous)
            var byGram = problem(source, keys: k, values: v)
            byGram.previousGram = gram
            let expected = try PreservationSolver.solve(method, byKeys, hyperparameters: hyper).dense()
            let solved = try PreservationSolver.solve(method, byGram, hyperparameters: hyper).dense()
            let unheld = try PreservationSolver.solve(method, problem(source, keys: k, values: v), hyperparameters: hyper).dense()
            #expect(relativeDifference(solved, expected) < 1e-9, "\(method): \(relativeDifference(solved, expected))")
            #expect(relativeDifference(unheld, expected) > 1e-3, "\(method): the earlier facts changed nothing")
        }
    }

    @Test("duplicate subjects in one EMMET batch are an error naming both facts; MEMIT solves them")
    func duplicateKeys() throws {
        var data = RandomEditData(seed: 8)
        var k = data.keys(3)
        k.setColumn(2, k.column(0))
        let p = problem(data, keys: k, values: data.values(3))
        do {
            _ = try PreservationSolver.solve(.emmet, p, hyperparameters: hyper)
            Issue.record("EMMET solved a batch with two identical keys")
        } catch let error as SolverError {
            guard case .singularSystem(_, let layer, let facts, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(layer == 3)
            #expect(facts == ["line 1", "line 3"])
            #expect(error.description.contains("line 1") && error.description.contains("line 3"))
        }
        let memit = try PreservationSolver.solve(.memit, p, hyperparameters: hyper)
        #expect(memit.u.values.allSatisfy(\.isFinite) && memit.v.values.allSatisfy(\.isFinite))
    }

    @Test("non-finite keys and singular statistics are errors, never NaN")
    func nonFinite() {
        var data = RandomEditData(seed: 9)
        var k = data.keys(2)
        k[0, 0] = .nan
        let p = problem(data, keys: k, values: data.values(2))
        for method in EditMethod.allCases {
            #expect(throws: SolverError.self) { try PreservationSolver.solve(method, p, hyperparameters: hyper) }
        }
        data.c0 = Matrix(rows: data.dIn, cols: data.dIn)
        let singular = problem(data, keys: data.keys(2), values: data.values(2))
        for method in [EditMethod.memit, .emmet, .rome] {
            var h = hyper
            h.preservationWeight = 1
            #expect(throws: SolverError.self) {
                try PreservationSolver.solve(method, singular, hyperparameters: h)
            }
        }
    }

    @Test("null_space_energy keeps the smallest eigen-directions that carry at most that share of C0's trace")
    func nullSpaceByEnergy() throws {
        // C0 = Σ λᵢ eᵢeᵢᵀ in a rotated basis: eigenvalues 1, 2, 3, 4, 90 (trace 100).
        var generator = SeededGenerator(seed: 21)
        let random = Matrix<Double>.gaussian(rows: 5, cols: 5, generator: &generator)
        let rotation = try SymmetricEigenDecomposition(random.multiplied(by: random, transposeOther: true)).eigenvectors
        var scaled = rotation
        for (j, value) in [1.0, 2, 3, 4, 90].enumerated() { for i in 0..<5 { scaled[i, j] *= value } }
        let moment = scaled.multiplied(by: rotation, transposeOther: true)
        for (energy, dimension) in [(0.005, 0), (0.011, 1), (0.059, 2), (0.061, 3), (0.5, 4)] {
            let projection = try NullSpaceProjection(moment: moment, energy: energy, layer: 2)
            #expect(projection.basis.cols == dimension, "energy \(energy)")
            // The basis spans the eigenvectors of the smallest eigenvalues.
            let own = rotation.columns(0..<dimension)
            let overlap = projection.basis.multiplied(by: own, transposeSelf: true)
            for j in 0..<dimension { #expect(abs(abs(overlap[j, j]) - 1) < 1e-9) }
        }
        var h = EditHyperparameters.defaults(for: try SolverFixtures.tinyFactsModel().0.configuration, method: .alphaedit)
        #expect(try NullSpaceProjection(moment: moment, hyperparameters: h, layer: 2).field == "nullspace_threshold")
        h.nullSpaceEnergy = 0.061
        let chosen = try NullSpaceProjection(moment: moment, hyperparameters: h, layer: 2)
        #expect(chosen.basis.cols == 3 && chosen.field == "null_space_energy")
        for bad in [0.0, 1.0, -0.1] {
            h.nullSpaceEnergy = bad
            #expect(throws: SolverError.invalidHyperparameter(field: "null_space_energy", reason: "must be in (0, 1)")) {
                try h.validate(layerCount: 4)
            }
        }
        // An empty null space is refused, naming the rule that made it so.
        h.nullSpaceEnergy = 0.005
        let empty = try NullSpaceProjection(moment: moment, hyperparameters: h, layer: 2)
        #expect(throws: SolverError.invalidHyperparameter(field: "null_space_energy", reason: empty.emptyReason(layer: 2))) {
            try UltraEditSolver.projected(Matrix<Double>(rows: 1, cols: 5), onto: empty, layer: 2)
        }
    }
}
