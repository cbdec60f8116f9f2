// UltraEdit (Gu et al., arXiv 2505.14679; reference code XiaojieGu/UltraEdit, editor/ultraedit.py):
// an edit without target optimisation and without preservation statistics. One forward and one
// backward pass over the facts' teacher-forced prompts give, at every answer token (each position
// whose logits predict a target token) and every edit layer, the key k (the MLP down-projection
// input) and g = ∂L/∂(MLP output), L the summed NLL of the fact's target tokens. The features
// [k ‖ g] update the layer's running statistics (LifelongNormalizer) and are standardised with
// them; each token's pseudo-value is v = −lr·‖k̂‖²·ĝ, and the layer's update is the ridge solution
// over the raw keys, ΔW = Vᵀ(KKᵀ + λI)⁻¹K (n × n system, n answer tokens, so rank ≤ n). All layers'
// features come from the weights before the edit and all updates are applied together, as the
// reference does.
//
// Where this differs from the reference: the statistics are kept per edit layer rather than per
// weight shape (layers of one shape there share one normaliser), the loss is the sum of the token
// NLLs instead of the batch mean (the standardisation removes a constant scale, and a sum does not
// make a fact's gradient depend on the batch it came with), and the merge of the statistics is the
// exact one (see LifelongNormalizer). Only the MLP output projection is edited, as for every
// method here. With `ultraedit_null_space` the update is confined to the null space of C0, as
// AlphaEdit confines MEMIT's: UltraEdit's raw answer-token keys share a large common part with
// the keys of ordinary text, which its plain ridge solve moves as well.
import Models
import Tensors

/// Computes UltraEdit edits.
public enum UltraEditSolver {
    /// The reference's step size (config/editor/ultraedit.yaml), tuned there for 6–8B models.
    public static let publishedLearningRate = 1e-6
    /// The reference's ridge: `solve(KᵀK + I, KᵀV)`.
    public static let publishedRidge = 1.0

    /// One layer's features at the answer tokens of a batch, a row per token.
    public struct LayerFeatures: Sendable {
        /// n × d_in: the down-projection inputs.
        public var keys: Matrix<Double>
        /// n × d_out: ∂L/∂(MLP output).
        public var gradients: Matrix<Double>
        /// The request each row belongs to.
        public var owners: [Int]

        /// [k ‖ g] per row (n × (d_in + d_out)).
        public var concatenated: Matrix<Double> {
            let n = keys.rows, a = keys.cols, b = gradients.cols
            var out = Matrix<Double>(rows: n, cols: a + b)
            for r in 0..<n {
                for c in 0..<a { out[r, c] = keys[r, c] }
                for c in 0..<b { out[r, a + c] = gradients[r, c] }
            }
            return out
        }
    }

    /// The teacher-forced prompt of each request: bare prompt + target without its last token.
    static func forcedPrompts(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest]) throws -> [TeacherForcedPrompt] {
        try requests.map { request in
            let prompt = try FactTokenization.prompt(request, tokenizer: tokenizer)
            let target = try FactTokenization.target(request.targetNew, label: request.label, tokenizer: tokenizer)
            let forced = TeacherForcedPrompt(prompt: prompt.ids, target: target)
            try TargetValueOptimizer.checkLength(forced.ids.count, model: model, label: request.label)
            return forced
        }
    }

    /// The features of every layer in `layers`, on the model's current weights.
    /// - Throws: `SolverError` when a fact cannot be tokenized or is too long; `.nonFinite` for a
    ///   gradient that is not finite.
    public static func features(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest],
                                layers: [Int]) throws -> [Int: LayerFeatures] {
        let forced = try forcedPrompts(model: model, tokenizer: tokenizer, requests: requests)
        let prompts = forced.map(\.ids)
        var owners: [Int] = [], rows: [Int] = []                  // per answer token: its fact, its row in the flat keys
        var offset = 0
        for (f, prompt) in forced.enumerated() {
            for position in prompt.positions {
                owners.append(f)
                rows.append(offset + position)
            }
            offset += prompt.ids.count
        }
        let allKeys = model.keysAtAllPositions(prompts: prompts, layers: layers)   // per layer (Σ lengths) × d_in

        // The δ session adds δ at one position per prompt, so each answer token gets its own copy
        // of its fact's prompt with δ = 0 there; the gradient of that copy's δ is ∂L/∂(MLP output)
        // at the token. Only the fact's target tokens at or after the position depend on it.
        var copies: [[Int]] = [], deltaPositions: [Int] = []
        var targets: [TokenTarget] = []
        for prompt in forced {
            for (j, position) in prompt.positions.enumerated() {
                let copy = copies.count
                copies.append(prompt.ids)
                deltaPositions.append(position)
                for later in j..<prompt.positions.count {
                    targets.append(TokenTarget(prompt: copy, position: prompt.positions[later], tokenID: prompt.targetIDs[later]))
                }
            }
        }
        let d = model.configuration.hiddenSize
        var out: [Int: LayerFeatures] = [:]
        for layer in layers {
            let session = model.deltaSession(prompts: copies, deltaPositions: deltaPositions, layer: layer)
            let evaluation = session.evaluate(
                deltas: [[Float]](repeating: [Float](repeating: 0, count: d), count: copies.count), groups: Array(copies.indices),
                tokenTargets: targets, tokenWeights: [Float](repeating: 1, count: targets.count), distributionTargets: [],
                klWeights: [])
            var gradients = Matrix<Double>(rows: copies.count, cols: d)
            for (r, gradient) in evaluation.gradients.enumerated() {
                if !gradient.allSatisfy(\.isFinite) {
                    throw SolverError.nonFinite(layer: layer, what: "the UltraEdit gradient of \(requests[owners[r]].label)")
                }
                gradients.setRow(r, gradient.map(Double.init))
            }
            guard let flat = allKeys[layer] else { preconditionFailure("no keys for layer \(layer)") }
            var keys = Matrix<Double>(rows: rows.count, cols: flat.cols)
            for (r, row) in rows.enumerated() { keys.setRow(r, flat.row(row).map(Double.init)) }
            out[layer] = LayerFeatures(keys: keys, gradients: gradients, owners: owners)
        }
        return out
    }

    /// Each token's pseudo-value v = −lr·‖k̂‖²·ĝ (n × d_out), [k̂ ‖ ĝ] the features standardised
    /// with `normalizer` (which should already hold them).
    public static func pseudoValues(_ features: LayerFeatures, normalizer: LifelongNormalizer, learningRate: Double) -> Matrix<Double> {
        let standardized = normalizer.standardized(features.concatenated)
        let a = features.keys.cols, b = features.gradients.cols
        var values = Matrix<Double>(rows: features.keys.rows, cols: b)
        for r in 0..<values.rows {
            var keyNormSquared = 0.0
            for c in 0..<a { keyNormSquared += standardized[r, c] * standardized[r, c] }
            let coefficient = -learningRate * keyNormSquared
            for c in 0..<b { values[r, c] = coefficient * standardized[r, a + c] }
        }
        return values
    }

    /// The ridge solution min ‖ΔKᵀ − Vᵀ‖² + λ‖Δ‖² over the raw keys K (n × d_in) and pseudo-values
    /// V (n × d_out): ΔW = Vᵀ(KKᵀ + λI)⁻¹K, as U = Vᵀ (d_out × n) and V' = Kᵀ(KKᵀ + λI)⁻¹ (d_in × n).
    /// - Throws: `SolverError.singularSystem` naming the layer's facts when KKᵀ + λI is not positive
    ///   definite (it always is for λ > 0 unless the keys overflow).
    public static func solve(keys: Matrix<Double>, values: Matrix<Double>, ridge: Double, layer: Int,
                             labels: [String]) throws -> LowRankDelta<Double> {
        precondition(keys.rows == values.rows, "\(keys.rows) keys for \(values.rows) values")
        var gram = Matrix<Double>(rows: keys.rows, cols: keys.rows)             // n × n
        for i in 0..<keys.rows { gram[i, i] = ridge }
        gram.addProduct(keys, keys, transposeB: true)
        let factor: CholeskyFactorization
        do {
            factor = try CholeskyFactorization(gram)
        } catch {
            throw SolverError.singularSystem(method: "UltraEdit", layer: layer, facts: labels,
                                             detail: "KKᵀ + λI is not positive definite (\(error)); a larger ultraedit_ridge is needed")
        }
        let solved = try factor.solve(keys)                                    // n × d_in: (KKᵀ + λI)⁻¹K
        return LowRankDelta(u: values.transposed(), v: solved.transposed())
    }

    /// The UltraEdit edit of `requests`: features on the current weights, `statistics` (per layer;
    /// empty for a layer never edited this way) updated with them, one solve per layer, all layers
    /// applied together. The weights are restored on return unless `apply` is set.
    /// With `ultraedit_null_space`, `nullSpaces` holds each edit layer's projection onto the null
    /// space of C0 and the solve runs on the projected keys KP.
    public static func computeEdit(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest],
                                   hyperparameters h: EditHyperparameters, statistics: [Int: LifelongNormalizer],
                                   nullSpaces: [Int: NullSpaceProjection] = [:],
                                   apply: Bool, progress: ((EditProgress) -> Void)?) throws -> EditResult {
        try h.validate(layerCount: model.configuration.layerCount)
        if requests.isEmpty { throw SolverError.invalidHyperparameter(field: "facts", reason: "no facts to edit") }
        let config = model.configuration
        let layers = h.sortedLayers
        let learningRate = h.ultraEditLearningRate ?? publishedLearningRate
        let ridge = h.ultraEditRidge ?? publishedRidge
        for (layer, normalizer) in statistics where normalizer.keyDimension != config.intermediateSize
            || normalizer.dimension != config.intermediateSize + config.hiddenSize {
            throw SolverError.shapeMismatch(what: "UltraEdit statistics of layer \(layer)",
                                            expected: "\(config.intermediateSize) + \(config.hiddenSize)",
                                            actual: "\(normalizer.keyDimension) + \(normalizer.dimension - normalizer.keyDimension)")
        }

        let original = Dictionary(uniqueKeysWithValues: layers.map { ($0, model.mlpOutputWeight(layer: $0)) })
        var keepEdits = false
        defer {
            if !keepEdits { for (layer, weight) in original { model.setMLPOutputWeight(layer: layer, weight) } }
        }
        let forced = try forcedPrompts(model: model, tokenizer: tokenizer, requests: requests)
        let before = EditPlanner.scoreTargets(model: model, prompts: forced.map { Array($0.ids.prefix($0.positions[0] + 1)) },
                                              targets: forced.map(\.targetIDs))
        progress?(EditProgress(stage: .targets, completed: 0, total: requests.count))
        let features = try features(model: model, tokenizer: tokenizer, requests: requests, layers: layers)
        progress?(EditProgress(stage: .targets, completed: requests.count, total: requests.count))

        let labels = requests.map(\.label)
        var updated = statistics
        var edits: [LayerEdit] = []
        for (j, layer) in layers.enumerated() {
            progress?(EditProgress(stage: .layers, completed: j, total: layers.count))
            guard let layerFeatures = features[layer] else { preconditionFailure("no features for layer \(layer)") }
            var normalizer = updated[layer] ?? LifelongNormalizer(keyDimension: config.intermediateSize, valueDimension: config.hiddenSize)
            normalizer.update(with: layerFeatures.concatenated)
            updated[layer] = normalizer
            let values = pseudoValues(layerFeatures, normalizer: normalizer, learningRate: learningRate)
            var solveKeys = layerFeatures.keys
            if h.ultraEditNullSpace == true {
                guard let projection = nullSpaces[layer] else { throw SolverError.missingStatistics(layer: layer) }
                solveKeys = try projected(solveKeys, onto: projection, layer: layer)
            }
            let delta = try solve(keys: solveKeys, values: values, ridge: ridge, layer: layer, labels: labels)
            let weight = original[layer]!
            let u = delta.u.toFloat(), v = delta.v.toFloat()
            // What later commits remember of these facts: each fact's key averaged over its answer
            // tokens, and the output the edited weight gives it.
            let factKeys = averagedKeys(layerFeatures, factCount: requests.count).toFloat()   // d_in × facts
            var edit = LayerEdit(layer: layer, u: u, v: v, keys: factKeys, values: Matrix(rows: weight.rows, cols: requests.count))
            let edited = edit.applied(to: weight)
            if !edited.values.allSatisfy(\.isFinite) { throw SolverError.nonFinite(layer: layer, what: "the edited weight") }
            edit.values = edited.multiplied(by: factKeys)
            edits.append(edit)
        }
        // Every layer's features were taken on the weights before the edit; apply them together.
        for edit in edits { model.setMLPOutputWeight(layer: edit.layer, edit.applied(to: original[edit.layer]!)) }
        progress?(EditProgress(stage: .layers, completed: layers.count, total: layers.count))

        progress?(EditProgress(stage: .evaluation, completed: 0, total: 1))
        let after = EditPlanner.scoreTargets(model: model, prompts: forced.map { Array($0.ids.prefix($0.positions[0] + 1)) },
                                             targets: forced.map(\.targetIDs))
        progress?(EditProgress(stage: .evaluation, completed: 1, total: 1))
        // No δ is optimised: the optimisation figures are those of the unedited model (0 steps).
        let outcomes = requests.indices.map { i in
            FactOutcome(fact: requests[i].label, targetTokenIDs: forced[i].targetIDs, optimizationSteps: 0,
                        optimizationLoss: -before[i].logProbability,
                        optimizationNLL: -before[i].logProbability / Double(forced[i].targetIDs.count),
                        optimizationTop1: before[i].allTop1, deltaNorm: 0, baseNorm: 0,
                        logProbabilityBefore: before[i].logProbability, logProbabilityAfter: after[i].logProbability,
                        efficacy: after[i].allTop1)
        }
        keepEdits = apply
        return EditResult(method: .ultraedit, hyperparameters: h, prefixes: [], layers: edits, facts: outcomes,
                          targets: Matrix(rows: config.hiddenSize, cols: 0), applied: apply, lifelongStatistics: updated)
    }

    /// The rows of `keys` (n × d_in) projected onto the null space of C0: K Q Qᵀ. Solving on them
    /// gives Δ = Vᵀ(KPKᵀ + λI)⁻¹KP, which vanishes on every key in the span of C0's large
    /// eigenvectors (P = QQᵀ is symmetric and idempotent).
    /// - Throws: `SolverError.invalidHyperparameter` when the null space is empty.
    public static func projected(_ keys: Matrix<Double>, onto projection: NullSpaceProjection, layer: Int) throws -> Matrix<Double> {
        let q = projection.basis                                               // d_in × r
        if q.cols == 0 {
            throw SolverError.invalidHyperparameter(field: projection.field, reason: projection.emptyReason(layer: layer))
        }
        return keys.multiplied(by: q).multiplied(by: q, transposeOther: true)
    }

    /// Each fact's key averaged over its answer tokens (d_in × facts).
    static func averagedKeys(_ features: LayerFeatures, factCount: Int) -> Matrix<Double> {
        let d = features.keys.cols
        var out = Matrix<Double>(rows: d, cols: factCount)
        var counts = [Int](repeating: 0, count: factCount)
        for (r, owner) in features.owners.enumerated() {
            counts[owner] += 1
            for c in 0..<d { out[c, owner] += features.keys[r, c] }
        }
        for f in 0..<factCount where counts[f] > 0 { for c in 0..<d { out[c, f] /= Double(counts[f]) } }
        return out
    }
}
