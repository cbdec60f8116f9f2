// The closed forms of the unified preservation–memorization objective (DESIGN.md §3) for one
// layer: given keys K_E, the residual R each key's output must move by, the preservation
// statistics C0 and the keys of earlier facts K_p, return Δ = U Vᵀ. Pure Float64 linear algebra
// with Cholesky solves; no model, no tokens. Failing systems become errors naming the facts.
import Tensors

/// One layer's system: what must change, and what must be preserved.
public struct PreservationProblem: Sendable {
    /// Layer index, for messages.
    public var layer: Int
    /// R = V_E − W K_E: how far each key's output is from its target (d_out × n).
    public var residual: Matrix<Double>
    /// K_E: the edited facts' keys (d_in × n).
    public var keys: Matrix<Double>
    /// K_p: keys of earlier facts to keep (d_in × p; p may be 0).
    public var previousKeys: Matrix<Double>
    /// K_p K_pᵀ of further earlier facts whose keys are not listed (d_in × d_in), accumulated over
    /// a long history: MEMIT and AlphaEdit need no more of them. EMMET, which holds each earlier
    /// fact by an equality, needs the keys themselves.
    public var previousGram: Matrix<Double>?
    /// Keys at the other positions of earlier facts' bare prompts (d_in × c; c may be 0), held
    /// with weight `memory_context_weight` beside K_p: by MEMIT, ENCORE and AlphaEdit in the same
    /// least squares, by EMMET and ROME (whose K_p are equalities) as part of what C0 preserves.
    public var contextKeys: Matrix<Double>
    /// C0 = E[k kᵀ] over ordinary text (d_in × d_in).
    public var moment: Matrix<Double>
    /// One name per column of `keys`, for errors.
    public var factLabels: [String]

    public init(layer: Int, residual: Matrix<Double>, keys: Matrix<Double>, previousKeys: Matrix<Double>? = nil,
                previousGram: Matrix<Double>? = nil, moment: Matrix<Double>, factLabels: [String]) {
        precondition(residual.cols == keys.cols, "\(residual.cols) residual columns for \(keys.cols) keys")
        precondition(moment.rows == keys.rows && moment.cols == keys.rows, "C0 is \(moment.rows)×\(moment.cols), keys \(keys.rows) wide")
        self.layer = layer
        self.residual = residual
        self.keys = keys
        self.previousKeys = previousKeys ?? Matrix(rows: keys.rows, cols: 0)
        precondition(self.previousKeys.rows == keys.rows, "previous keys are \(self.previousKeys.rows) wide, keys \(keys.rows)")
        precondition(previousGram.map { $0.rows == keys.rows && $0.cols == keys.rows } ?? true, "earlier facts' Gram does not fit the keys")
        self.previousGram = previousGram
        self.contextKeys = Matrix(rows: keys.rows, cols: 0)
        self.moment = moment
        self.factLabels = factLabels.count == keys.cols ? factLabels : (0..<keys.cols).map { "fact \($0 + 1)" }
    }
}

/// The closed-form solutions. Each returns U = R and a V that carries the method's solve, so
/// Δ = R Vᵀ and Δ K_E = R (Vᵀ K_E): the columns of V are what "spreads" R over the key space.
public enum PreservationSolver {
    /// Solves `problem` with `method`. ROME is EMMET with one fact (the planner hands it facts
    /// one at a time); with more columns it is the same as EMMET.
    /// - Throws: `SolverError.singularSystem` naming the facts when a system cannot be solved,
    ///   `SolverError.nonFinite` when the result is not finite.
    public static func solve(_ method: EditMethod, _ problem: PreservationProblem,
                             hyperparameters h: EditHyperparameters,
                             nullSpace: NullSpaceProjection? = nil) throws -> LowRankDelta<Double> {
        let delta: LowRankDelta<Double>
        let memoryWeight = h.memoryWeight ?? 1, contextWeight = h.memoryContextWeight ?? 1
        switch method {
        case .memit:
            delta = try memit(problem, preservationWeight: h.preservationWeight, memoryWeight: memoryWeight,
                              contextWeight: contextWeight)
        case .encore:
            delta = try memit(problem, preservationWeight: h.preservationWeight, memoryWeight: memoryWeight,
                              contextWeight: contextWeight, updateNorm: h.updateNormLambda, method: "ENCORE")
        case .emmet, .rome:
            precondition(problem.previousGram == nil, "\(method.rawValue) holds earlier facts by their keys, not their Gram")
            // In C0's units, as MEMIT weighs the same keys against λC0.
            delta = try emmet(problem, ridge: h.emmetRidge, contextWeight: contextWeight / h.preservationWeight,
                              method: method.rawValue.uppercased())
        case .alphaedit:
            let projection = try nullSpace ?? NullSpaceProjection(moment: problem.moment, hyperparameters: h, layer: problem.layer)
            delta = try alphaEdit(problem, projection: projection, regularization: h.alphaEditRegularization,
                                  memoryWeight: memoryWeight, contextWeight: contextWeight)
        case .ultraedit:
            // Its solve needs the answer-token features, not a preservation problem.
            throw SolverError.invalidHyperparameter(field: "method", reason: "ultraedit is solved from its features (UltraEditSolver), not from keys and values")
        }
        if !(delta.u.values.allSatisfy(\.isFinite) && delta.v.values.allSatisfy(\.isFinite)) {
            throw SolverError.nonFinite(layer: problem.layer, what: "the \(method.rawValue) update")
        }
        return delta
    }

    /// MEMIT: min λ‖ΔK0‖²/N + w‖ΔK_p‖² + ‖(W+Δ)K_E − V_E‖², so
    /// Δ = R K_Eᵀ A⁻¹ with A = λC0 + w(G + K_p K_pᵀ) + K_E K_Eᵀ (G: `previousGram`, w: `memoryWeight`):
    /// U = R, V = A⁻¹ K_E. With w = 1, solving batch after batch with the earlier keys in K_p gives
    /// the one-shot solution for the union of the batches (recursive least squares). ENCORE adds μ‖Δ‖²_F to the objective,
    /// μ = `updateNorm` × the mean diagonal of λC0, so A gains μI: every update is shrunk towards zero, most along the key
    /// directions ordinary text rarely uses, which bounds how the edited weight's norm grows over
    /// a long history.
    public static func memit(_ p: PreservationProblem, preservationWeight lambda: Double, memoryWeight: Double = 1,
                             contextWeight: Double = 1, updateNorm: Double = 0,
                             method: String = "MEMIT") throws -> LowRankDelta<Double> {
        var a = lambda * p.moment
        if updateNorm > 0 {
            // In units of λ·mean diag(C0), so that one μ means the same on models whose keys differ in scale.
            var meanDiagonal = 0.0
            for i in 0..<a.rows { meanDiagonal += a[i, i] }
            meanDiagonal /= Double(max(1, a.rows))
            for i in 0..<a.rows { a[i, i] += updateNorm * meanDiagonal }
        }
        if let gram = p.previousGram { a.add(memoryWeight == 1 ? gram : memoryWeight * gram) }
        a.addProduct(p.previousKeys, p.previousKeys, transposeB: true, alpha: memoryWeight)
        a.addProduct(p.contextKeys, p.contextKeys, transposeB: true, alpha: memoryWeight * contextWeight)
        a.addProduct(p.keys, p.keys, transposeB: true)
        let factor: CholeskyFactorization
        do {
            factor = try CholeskyFactorization(a)
        } catch {
            throw SolverError.singularSystem(
                method: method, layer: p.layer, facts: collinearFacts(p),
                detail: "λC0 + K Kᵀ \(describe(error)); more statistics tokens or a larger λ are needed")
        }
        let v = try factor.solve(p.keys)
        return LowRankDelta(u: p.residual, v: v)
    }

    /// EMMET: min ‖ΔK0‖² subject to (W+Δ)K_E = V_E and Δ K_p = 0 (earlier facts' outputs held by
    /// equality). With K = [K_E K_p], Y = C0⁻¹K and M = Kᵀ Y (+ ridge on the K_E block),
    /// Δ = [R 0] M⁻¹ Kᵀ C0⁻¹: U = R, V = Y (M⁻¹)[:, E]. Without earlier facts this is
    /// U Vᵀ = R (K_Eᵀ C0⁻¹ K_E)⁻¹ K_Eᵀ C0⁻¹, the EMMET/ROME form. λ cancels and is not used.
    /// The ridge is `ridge` times the mean diagonal of K_Eᵀ C0⁻¹ K_E.
    public static func emmet(_ p: PreservationProblem, ridge: Double, contextWeight: Double = 0,
                             method: String = "EMMET") throws -> LowRankDelta<Double> {
        let n = p.keys.cols
        let k = p.keys.appendingColumns(p.previousKeys)
        let total = k.cols
        var preserved = p.moment
        preserved.addProduct(p.contextKeys, p.contextKeys, transposeB: true, alpha: contextWeight)
        let c0: CholeskyFactorization
        do {
            c0 = try CholeskyFactorization(preserved)
        } catch {
            throw SolverError.singularSystem(
                method: method, layer: p.layer, facts: [],
                detail: "C0 \(describe(error)); more statistics tokens are needed")
        }
        let y = try c0.solve(k)                       // d_in × (n+p)
        var m = k.multiplied(by: y, transposeSelf: true)  // (n+p) × (n+p)
        symmetrize(&m)
        if ridge > 0 && n > 0 {
            var meanDiagonal = 0.0
            for i in 0..<n { meanDiagonal += m[i, i] }
            meanDiagonal /= Double(n)
            for i in 0..<n { m[i, i] += ridge * meanDiagonal }
        }
        let factor: CholeskyFactorization
        do {
            factor = try CholeskyFactorization(m, minimumReciprocalCondition: 1e-12)
        } catch {
            throw SolverError.singularSystem(
                method: method, layer: p.layer, facts: collinearFacts(p),
                detail: "K_Eᵀ C0⁻¹ K_E \(describe(error)); facts with the same subject cannot take different targets in one batch")
        }
        var selector = Matrix<Double>(rows: total, cols: n)
        for i in 0..<n { selector[i, i] = 1 }
        let s = try factor.solve(selector)            // (n+p) × n
        return LowRankDelta(u: p.residual, v: y.multiplied(by: s))
    }

    /// AlphaEdit: Δ = R K_Eᵀ P (K_p K_pᵀ P + K_E K_Eᵀ P + αI)⁻¹ with P = Q Qᵀ the projector onto
    /// the null space of C0. Because P commutes with P M P + αI, this equals
    /// R (Q (Qᵀ M Q + αI)⁻¹ Qᵀ K_E)ᵀ with M = w(G + K_p K_pᵀ) + K_E K_Eᵀ (w: `memoryWeight`): U = R, V = Q (Qᵀ M Q + αI)⁻¹ Qᵀ K_E,
    /// an r × r Cholesky solve. Keys in the span of C0's large eigenvectors are left unchanged
    /// exactly; earlier facts are kept by the K_p K_pᵀ term (as AlphaEdit's sequential cache).
    /// α is `regularization` times the mean of ‖Qᵀ k‖² over the batch.
    public static func alphaEdit(_ p: PreservationProblem, projection: NullSpaceProjection,
                                 regularization: Double, memoryWeight: Double = 1,
                                 contextWeight: Double = 1) throws -> LowRankDelta<Double> {
        let q = projection.basis                      // d_in × r
        let r = q.cols
        if r == 0 {
            throw SolverError.invalidHyperparameter(field: projection.field, reason: projection.emptyReason(layer: p.layer))
        }
        let qk = q.multiplied(by: p.keys, transposeSelf: true)            // r × n
        let qkp = q.multiplied(by: p.previousKeys, transposeSelf: true)   // r × p
        var g = qk.multiplied(by: qk, transposeOther: true)              // r × r
        g.addProduct(qkp, qkp, transposeB: true, alpha: memoryWeight)
        let qkc = q.multiplied(by: p.contextKeys, transposeSelf: true)    // r × c
        g.addProduct(qkc, qkc, transposeB: true, alpha: memoryWeight * contextWeight)
        if let gram = p.previousGram {
            let projected = q.multiplied(by: gram.multiplied(by: q), transposeSelf: true)
            g.add(memoryWeight == 1 ? projected : memoryWeight * projected)
        }
        var meanNorm = 0.0
        for j in 0..<qk.cols { for i in 0..<r { meanNorm += qk[i, j] * qk[i, j] } }
        meanNorm /= Double(max(1, qk.cols))
        let alpha = regularization * (meanNorm > 0 ? meanNorm : 1)
        for i in 0..<r { g[i, i] += alpha }
        symmetrize(&g)
        let factor: CholeskyFactorization
        do {
            factor = try CholeskyFactorization(g)
        } catch {
            throw SolverError.singularSystem(method: "AlphaEdit", layer: p.layer, facts: collinearFacts(p),
                                             detail: "projected normal equations \(describe(error))")
        }
        let z = try factor.solve(qk)                                     // r × n
        return LowRankDelta(u: p.residual, v: q.multiplied(by: z))
    }

    // MARK: - Diagnostics

    /// Pairs of facts whose keys are (almost) parallel: the usual cause of a singular batch.
    /// Earlier facts appear as "earlier fact j". Empty when no pair is found.
    static func collinearFacts(_ p: PreservationProblem) -> [String] {
        let all = p.keys.appendingColumns(p.previousKeys)
        let labels = p.factLabels + (0..<p.previousKeys.cols).map { "earlier fact \($0 + 1)" }
        let gram = all.multiplied(by: all, transposeSelf: true)
        var names: [String] = []
        func note(_ name: String) { if !names.contains(name) { names.append(name) } }
        for i in 0..<p.keys.cols {
            if !(gram[i, i] > 0) {
                note(labels[i])
                continue
            }
            for j in stride(from: i + 1, to: all.cols, by: 1) {
                let denominator = (gram[i, i] * gram[j, j]).squareRoot()
                if denominator > 0 && abs(gram[i, j]) / denominator > 1 - 1e-6 {
                    note(labels[i])
                    note(labels[j])
                }
            }
        }
        if names.isEmpty && p.keys.cols > 0 && p.keys.cols <= 8 { return p.factLabels }
        return names
    }

    static func describe(_ error: Error) -> String {
        switch error as? LinearAlgebraError {
        case .notPositiveDefinite?: return "is not positive definite"
        case .singular(_, let rcond)?: return "is ill-conditioned (reciprocal condition \(rcond))"
        default: return "cannot be factored (\(error))"
        }
    }

    static func symmetrize(_ m: inout Matrix<Double>) {
        let n = m.rows
        for i in 0..<n {
            for j in stride(from: i + 1, to: n, by: 1) {
                let mean = 0.5 * (m[i, j] + m[j, i])
                m[i, j] = mean
                m[j, i] = mean
            }
        }
    }
}

/// The orthonormal basis Q of the approximate null space of C0: the eigenvectors whose eigenvalue
/// is below `threshold` times the largest, or (`null_space_energy`) the eigenvectors of the
/// smallest eigenvalues that together carry at most that share of C0's trace. P = Q Qᵀ. Costly
/// (one symmetric eigen-decomposition of d_in × d_in), so computed once per layer and reused
/// across facts and commits.
public struct NullSpaceProjection: Sendable {
    /// d_in × r.
    public let basis: Matrix<Double>
    /// The rule that chose the basis, as the hyperparameter that set it ("nullspace_threshold
    /// 0.01"); its field name is `field`.
    public let rule: String
    public let field: String
    /// All eigenvalues of C0, ascending.
    public let eigenvalues: [Double]

    /// The null space `h` asks for: by `null_space_energy` when set, else by `nullspace_threshold`.
    /// - Throws: `SolverError.statistics` when the eigen-decomposition fails.
    public init(moment: Matrix<Double>, hyperparameters h: EditHyperparameters, layer: Int) throws {
        if let energy = h.nullSpaceEnergy {
            try self.init(moment: moment, energy: energy, layer: layer)
        } else {
            try self.init(moment: moment, threshold: h.nullSpaceThreshold, layer: layer)
        }
    }

    /// - Throws: `SolverError.statistics` when the eigen-decomposition fails.
    public init(moment: Matrix<Double>, threshold: Double, layer: Int) throws {
        let eigen = try Self.decompose(moment, layer: layer)
        let largest = eigen.eigenvalues.last ?? 0
        let r = eigen.eigenvalues.prefix(while: { $0 < threshold * largest }).count
        self.basis = eigen.eigenvectors.columns(0..<r)
        self.rule = "nullspace_threshold \(threshold)"
        self.field = "nullspace_threshold"
        self.eigenvalues = eigen.eigenvalues
    }

    /// The eigenvectors of the smallest eigenvalues whose sum is at most `energy` times the trace:
    /// the directions along which ordinary text's keys carry that share of their squared norm.
    /// - Throws: `SolverError.statistics` when the eigen-decomposition fails.
    public init(moment: Matrix<Double>, energy: Double, layer: Int) throws {
        let eigen = try Self.decompose(moment, layer: layer)
        let trace = eigen.eigenvalues.reduce(0) { $0 + max($1, 0) }
        var r = 0, carried = 0.0
        for value in eigen.eigenvalues {
            carried += max(value, 0)
            if carried > energy * trace { break }
            r += 1
        }
        self.basis = eigen.eigenvectors.columns(0..<r)
        self.rule = "null_space_energy \(energy)"
        self.field = "null_space_energy"
        self.eigenvalues = eigen.eigenvalues
    }

    static func decompose(_ moment: Matrix<Double>, layer: Int) throws -> SymmetricEigenDecomposition {
        do {
            return try SymmetricEigenDecomposition(moment)
        } catch {
            throw SolverError.statistics(layer: layer, reason: "eigen-decomposition of C0 failed (\(error))")
        }
    }

    /// Why the null space of `layer` is empty, for the error that says so.
    func emptyReason(layer: Int) -> String {
        "C0 of layer \(layer) leaves no direction under \(rule); the null space is empty"
    }
}

extension PreservationSolver {
    /// One layer's edit re-solved from stored keys and values on `weight` (which is updated):
    /// for ROME one fact at a time, each held in the memory of the next, as ROME commits were
    /// made; for the other methods the batch at once.
    /// - Parameters:
    ///   - keys, values: the stored K_E and V_E of the layer (d_in × n, d_out × n).
    ///   - previousKeys: the keys of the facts in force to preserve (d_in × p).
    ///   - labels: how messages name each fact.
    public static func resolveStored(_ method: EditMethod, layer: Int, weight: inout Matrix<Double>, keys: Matrix<Double>,
                                     values: Matrix<Double>, previousKeys: Matrix<Double>, moment: Matrix<Double>,
                                     labels: [String], hyperparameters h: EditHyperparameters) throws -> LowRankDelta<Double> {
        guard values.cols == keys.cols, values.rows == weight.rows, keys.rows == weight.cols else {
            throw SolverError.shapeMismatch(what: "stored keys and values of layer \(layer)",
                                            expected: "\(weight.cols) × n keys and \(weight.rows) × n values",
                                            actual: "\(keys.rows) × \(keys.cols) keys and \(values.rows) × \(values.cols) values")
        }
        let groups: [Range<Int>] = method == .rome ? (0..<keys.cols).map { $0..<($0 + 1) } : [0..<keys.cols]
        var previous = previousKeys
        var us: [Matrix<Double>] = [], vs: [Matrix<Double>] = []
        for group in groups {
            let groupKeys = keys.columns(group)
            let residual = values.columns(group) - weight.multiplied(by: groupKeys)
            let problem = PreservationProblem(layer: layer, residual: residual, keys: groupKeys, previousKeys: previous,
                                              moment: moment, factLabels: group.map { $0 < labels.count ? labels[$0] : "fact \($0)" })
            let delta = try solve(method, problem, hyperparameters: h)
            weight.addProduct(delta.u, delta.v, transposeB: true)
            us.append(delta.u)
            vs.append(delta.v)
            previous = previous.appendingColumns(groupKeys)
        }
        guard let firstU = us.first, let firstV = vs.first else {
            return LowRankDelta(u: Matrix(rows: weight.rows, cols: 0), v: Matrix(rows: weight.cols, cols: 0))
        }
        return LowRankDelta(u: us.dropFirst().reduce(firstU) { $0.appendingColumns($1) },
                            v: vs.dropFirst().reduce(firstV) { $0.appendingColumns($1) })
    }
}
