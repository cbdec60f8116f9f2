// The δ-optimisation session of EditableModel.deltaSession for every architecture.
// Made once: a forward pass of every prompt through all blocks (δ = 0) keeps the residual after
// block `layer`, the final residual, and every block's keys and values. Rows before a prompt's δ
// position do not depend on δ (attention is causal), so each evaluation recomputes only the rows
// from the δ position to the prompt's last loss row, attending to the kept keys and values of the
// rows before; then the final norm and LM head at the loss rows, and the backward pass (input
// gradients only, no weight gradients) through the same rows down to δ.
// A session is used from one thread at a time: evaluations write the active rows' keys and values
// into the session's cache. Sessions of one model may run concurrently (weights are only read).
import Foundation
import Tensors

final class RuntimeDeltaSession<M: DecoderStack>: DeltaSession {
    typealias S = M.S
    let model: M
    let layer: Int
    let prompts: [[Int]]
    let deltaPositions: [Int]
    /// The full batch: each prompt's rows.
    let segments: [Range<Int>]
    /// (T, C) residual after block `layer`, before δ.
    let cached: ScalarBuffer<S>
    /// (T, C) residual after the last block at δ = 0 (what the loss sees at rows before δ).
    let top: ScalarBuffer<S>
    /// Keys and values of every row at every layer, at δ = 0.
    let cache: KVCache<S>
    let baseValues: Matrix<Float>
    /// Where a norm follows block `layer`'s MLP output (Gemma-3), δ is added before it: the δ
    /// row's residual is then mid + norm(value + δ), with `mid` (n, C) the residual after the
    /// block's attention and `value` (n, C) its MLP output at each prompt's δ position.
    private let normedValue: (weight: ScalarBuffer<S>, mid: ScalarBuffer<S>, value: ScalarBuffer<S>)?
    /// Buffers of the last evaluation's active rows, reused while the rows stay the same.
    private var workspace: (rows: [Int], context: ForwardContext<S>, activations: [BlockActivations<S>],
                            scratch: BackwardScratch<S>)?

    @_specialize(where M == LlamaModel<Float>)
    @_specialize(where M == GPT2Model<Float>)
    @_specialize(where M == Gemma3Model<Float>)
    init(model: M, prompts: [[Int]], deltaPositions: [Int], layer: Int) {
        let configuration = model.configuration
        let C = configuration.hiddenSize
        precondition(layer >= 0 && layer < configuration.layerCount, "layer \(layer) out of range")
        model.checkPrompts(prompts, positions: deltaPositions)
        let T = prompts.reduce(0) { $0 + $1.count }
        let cache = KVCache<S>(configuration: configuration, capacity: T)
        var starts: [Int] = []
        var offset = 0
        for prompt in prompts {
            starts.append(offset)
            offset += prompt.count
        }
        let full = ForwardContext<S>(rows: prompts, startPositions: prompts.map { _ in 0 }, cache: cache,
                                     cacheStarts: starts, cacheLengths: prompts.map { _ in 0 })
        let cached = ScalarBuffer<S>(count: T * C)
        let deltaRows = zip(full.segments, deltaPositions).map { $0.lowerBound + $1 }
        let norm = model.mlpOutputNorm(layer: layer)
        var parts: (mid: ScalarBuffer<S>, value: ScalarBuffer<S>)?
        let top = model.forwardBlocks(full, through: configuration.layerCount - 1) { l, x, acts in
            guard l == layer else { return }
            cached.pointer.update(from: x, count: T * C)
            if norm != nil {
                let F = configuration.intermediateSize
                let keys = model.gather(acts.key.pointer, width: F, rows: deltaRows)
                let value = ScalarBuffer<S>(count: prompts.count * C)
                matmulForward(value.pointer, keys.pointer, model.downProjection(layer: layer).pointer, nil, prompts.count, F, C)
                parts = (model.gather(acts.mid.pointer, width: C, rows: deltaRows), value)
            }
        }
        self.model = model
        self.layer = layer
        self.prompts = prompts
        self.deltaPositions = deltaPositions
        self.segments = full.segments
        self.cached = cached
        self.top = top
        self.cache = cache
        if let norm, let parts {
            normedValue = (norm, parts.mid, parts.value)
            baseValues = parts.value.floatMatrix(rows: prompts.count, cols: C)
        } else {
            normedValue = nil
            baseValues = model.gather(cached.pointer, width: C, rows: deltaRows).floatMatrix(rows: prompts.count, cols: C)
        }
    }

    @_specialize(where M == LlamaModel<Float>)
    @_specialize(where M == GPT2Model<Float>)
    @_specialize(where M == Gemma3Model<Float>)
    func evaluate(deltas: [[Float]], groups: [Int], tokenTargets: [TokenTarget], tokenWeights: [Float],
                  distributionTargets: [DistributionTarget], klWeights: [Float]) -> GroupedDeltaEvaluation {
        let configuration = model.configuration
        let C = configuration.hiddenSize, V = configuration.vocabularySize, L = configuration.layerCount
        precondition(groups.count == prompts.count, "\(groups.count) groups for \(prompts.count) prompts")
        precondition(groups.allSatisfy { $0 >= 0 && $0 < deltas.count }, "a group without its δ")
        precondition(deltas.allSatisfy { $0.count == C }, "a δ that is not d_model (\(C)) wide")
        precondition(tokenWeights.count == tokenTargets.count, "\(tokenWeights.count) weights for \(tokenTargets.count) token targets")
        precondition(klWeights.count == distributionTargets.count, "\(klWeights.count) weights for \(distributionTargets.count) distributions")

        // Loss positions, each once: (prompt, position) → slot.
        var lossPositions: [(prompt: Int, position: Int)] = []
        var slot: [Int: Int] = [:]
        func slotOf(prompt: Int, position: Int) -> Int {
            precondition(prompt >= 0 && prompt < prompts.count, "target prompt \(prompt) out of range")
            precondition(position >= 0 && position < prompts[prompt].count, "target position \(position) outside prompt \(prompt)")
            let row = segments[prompt].lowerBound + position
            if let s = slot[row] { return s }
            slot[row] = lossPositions.count
            lossPositions.append((prompt, position))
            return lossPositions.count - 1
        }
        let tokenSlots = tokenTargets.map { slotOf(prompt: $0.prompt, position: $0.position) }
        let distributionSlots = distributionTargets.map { slotOf(prompt: $0.prompt, position: $0.position) }
        let R = lossPositions.count

        // Active rows: prompt p from its δ position to its last loss position at or after it.
        var end = deltaPositions
        for (p, position) in lossPositions where position >= deltaPositions[p] { end[p] = max(end[p], position + 1) }
        let active = prompts.indices.filter { end[$0] > deltaPositions[$0] }
        if workspace?.rows != end {
            let context = ForwardContext<S>(
                rows: active.map { Array(prompts[$0][deltaPositions[$0]..<end[$0]]) },
                startPositions: active.map { deltaPositions[$0] }, cache: cache,
                cacheStarts: active.map { segments[$0].lowerBound }, cacheLengths: active.map { deltaPositions[$0] })
            let activations = ((layer + 1)..<L).map { _ in BlockActivations(configuration: configuration, context: context) }
            workspace = (end, context, activations, BackwardScratch(configuration: configuration, context: context))
        }
        guard let (_, context, activations, scratch) = workspace else { preconditionFailure("no workspace") }
        let Ta = context.rows
        var activeRow: [Int: Int] = [:]                                        // prompt → first active row
        for (s, p) in active.enumerated() { activeRow[p] = context.segments[s].lowerBound }

        // Forward: x (Ta, C) = cached rows + δ at each δ row, then the blocks above `layer`.
        let x = ScalarBuffer<S>(count: Ta * C)
        for (s, p) in active.enumerated() {
            let first = segments[p].lowerBound + deltaPositions[p]
            (x.pointer + context.segments[s].lowerBound * C).update(from: cached.pointer + first * C, count: context.segments[s].count * C)
        }
        let deltaS = ScalarBuffer<S>(converting: deltas.flatMap { $0 })
        // With a norm after the MLP output: each active prompt's value + δ and its reciprocal RMS.
        let shifted = ScalarBuffer<S>(count: normedValue == nil ? 0 : active.count * C)
        let shiftedRstd = ScalarBuffer<S>(count: normedValue == nil ? 0 : active.count)
        for (s, p) in active.enumerated() {
            let row = x.pointer + context.segments[s].lowerBound * C
            if let (weight, mid, value) = normedValue {
                let v = shifted.pointer + s * C
                residualForward(v, value.pointer + p * C, deltaS.pointer + groups[p] * C, C)
                rmsnormForward(row, shiftedRstd.pointer + s, v, weight.pointer, 1, C, eps: S(configuration.normEpsilon))
                residualForward(row, row, mid.pointer + p * C, C)
            } else {
                residualForward(row, row, deltaS.pointer + groups[p] * C, C)
            }
        }
        for l in (layer + 1)..<L { model.blockForward(layer: l, x.pointer, context, activations[l - layer - 1]) }

        // Final norm and LM head at the loss rows: active ones from x, earlier ones from `top`.
        let h = ScalarBuffer<S>(count: R * C)                                  // (R, C)
        var source: [Int?] = []                                                // active row of each slot
        for (r, loss) in lossPositions.enumerated() {
            if loss.position >= deltaPositions[loss.prompt], let first = activeRow[loss.prompt] {
                let row = first + loss.position - deltaPositions[loss.prompt]
                source.append(row)
                (h.pointer + r * C).update(from: x.pointer + row * C, count: C)
            } else {
                source.append(nil)
                (h.pointer + r * C).update(from: top.pointer + (segments[loss.prompt].lowerBound + loss.position) * C, count: C)
            }
        }
        let normed = ScalarBuffer<S>(count: R * C)                             // (R, C)
        let mean = ScalarBuffer<S>(count: R), rstd = ScalarBuffer<S>(count: R)
        model.finalNormForward(normed.pointer, mean.pointer, rstd.pointer, h.pointer, R)
        let logits = ScalarBuffer<S>(count: R * V)                             // (R, V)
        matmulForward(logits.pointer, normed.pointer, model.head.pointer, model.headBias?.pointer, R, C, V)

        // Loss and ∂loss/∂logits (written over the logits).
        var terms = LossTerms(R: R, V: V)
        for (i, target) in tokenTargets.enumerated() {
            precondition(target.tokenID >= 0 && target.tokenID < V, "target token \(target.tokenID) outside the vocabulary")
            terms.tokens.append((tokenSlots[i], target.tokenID, Double(tokenWeights[i])))
        }
        for (d, target) in distributionTargets.enumerated() {
            precondition(target.referenceLogProbabilities.count == V, "reference distribution of \(target.referenceLogProbabilities.count), vocabulary is \(V)")
            terms.distributions.append((distributionSlots[d], target.referenceLogProbabilities, Double(klWeights[d])))
        }
        let loss = lossForwardBackward(logits.pointer, &terms)

        // Backward: LM head, final norm, blocks L−1 … layer+1, down to δ.
        let dnormed = ScalarBuffer<S>(count: R * C)                            // (R, C)
        matmulBackward(dnormed.pointer, logits.pointer, model.head.pointer, R, C, V, accumulate: false)
        let dh = ScalarBuffer<S>(count: R * C)                                 // (R, C)
        model.finalNormBackward(dh.pointer, dnormed.pointer, h.pointer, mean.pointer, rstd.pointer, R)
        let dx = ScalarBuffer<S>(count: Ta * C)                                // (Ta, C)
        for (r, row) in source.enumerated() {
            if let row { residualForward(dx.pointer + row * C, dx.pointer + row * C, dh.pointer + r * C, C) }
        }
        for l in stride(from: L - 1, through: layer + 1, by: -1) {
            model.blockBackward(layer: l, dx.pointer, context, activations[l - layer - 1], scratch)
        }
        let gradient = ScalarBuffer<S>(count: deltas.count * C)
        for (s, p) in active.enumerated() {
            let g = gradient.pointer + groups[p] * C
            let dRow = dx.pointer + context.segments[s].lowerBound * C
            if let (weight, _, _) = normedValue {
                rmsnormBackward(g, dRow, shifted.pointer + s * C, weight.pointer, shiftedRstd.pointer + s, 1, C)
            } else {
                residualForward(g, g, dRow, C)
            }
        }
        let all = gradient.floatMatrix(rows: deltas.count, cols: C)
        return GroupedDeltaEvaluation(targetLogProbabilities: terms.tokenLogProbabilities, targetIsTop1: terms.tokenIsTop1,
                                      klDivergences: terms.klDivergences, gradients: deltas.indices.map { all.row($0) },
                                      loss: loss)
    }
}

/// The weighted NLL and KL terms of a δ loss over R logit rows, and what their evaluation reports.
struct LossTerms {
    let R: Int, V: Int
    var tokens: [(slot: Int, tokenID: Int, weight: Double)] = []
    var distributions: [(slot: Int, reference: [Float], weight: Double)] = []
    var tokenLogProbabilities: [Float] = []
    var tokenIsTop1: [Bool] = []
    var klDivergences: [Float] = []
    init(R: Int, V: Int) {
        self.R = R
        self.V = V
    }
}

/// loss = −Σ w·log p(token) + Σ w·KL(reference ‖ softmax(logits)); logits (R, V) are replaced by
/// ∂loss/∂logits = Σ w·(softmax − onehot or reference). Accumulated in Double. Rows are
/// independent, so they run as pieces on `ComputeThreads` (each writes only its own row and its
/// own terms' results); the loss is summed over rows in row order.
@_specialize(where S == Float)
@_specialize(where S == Double)
func lossForwardBackward<S: RuntimeScalar>(_ logits: UnsafeMutablePointer<S>, _ terms: inout LossTerms) -> Double {
    let R = terms.R, V = terms.V
    var tokensOfRow = [[Int]](repeating: [], count: R)
    for (i, term) in terms.tokens.enumerated() { tokensOfRow[term.slot].append(i) }
    var distributionsOfRow = [[Int]](repeating: [], count: R)
    for (d, term) in terms.distributions.enumerated() { distributionsOfRow[term.slot].append(d) }
    let tokenResults = UnsafeMutableBufferPointer<(logProbability: Float, top1: Bool)>.allocate(capacity: max(1, terms.tokens.count))
    tokenResults.initialize(repeating: (0, false))
    let klResults = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, terms.distributions.count))
    klResults.initialize(repeating: 0)
    let rowLoss = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(1, R))
    rowLoss.initialize(repeating: 0)
    defer {
        tokenResults.deallocate()
        klResults.deallocate()
        rowLoss.deallocate()
    }
    let tokens = terms.tokens, distributions = terms.distributions
    nonisolated(unsafe) let (out, tokenOut, klOut, lossOut) = (logits, tokenResults, klResults, rowLoss)
    let rowsPerPiece = 8
    ComputeThreads.forEach((R + rowsPerPiece - 1) / rowsPerPiece) { piece in
        var logProbabilities = [Double](repeating: 0, count: V)
        var dlogits = [Double](repeating: 0, count: V)
        for r in (piece * rowsPerPiece)..<min(R, (piece + 1) * rowsPerPiece) {
            let row = out + r * V
            for v in 0..<V { dlogits[v] = 0 }
            var best = 0
            var maxValue = -Double.infinity
            for v in 0..<V where Double(row[v]) > maxValue { maxValue = Double(row[v]); best = v }
            var sum = 0.0
            for v in 0..<V { sum += Foundation.exp(Double(row[v]) - maxValue) }
            let lse = maxValue + Foundation.log(sum)
            for v in 0..<V { logProbabilities[v] = Double(row[v]) - lse }
            var loss = 0.0
            var rowWeight = 0.0
            for i in tokensOfRow[r] {
                let term = tokens[i]
                let lp = logProbabilities[term.tokenID]
                tokenOut[i] = (Float(lp), best == term.tokenID)
                loss -= term.weight * lp
                rowWeight += term.weight
                dlogits[term.tokenID] -= term.weight
            }
            for d in distributionsOfRow[r] {
                let term = distributions[d]
                var kl = 0.0
                term.reference.withUnsafeBufferPointer { reference in
                    for v in 0..<V {
                        let lref = Double(reference[v])
                        let pref = Foundation.exp(lref)
                        if pref > 0 { kl += pref * (lref - logProbabilities[v]) }
                        dlogits[v] -= term.weight * pref
                    }
                }
                klOut[d] = Float(kl)
                loss += term.weight * kl
                rowWeight += term.weight
            }
            for v in 0..<V { row[v] = S(dlogits[v] + rowWeight * Foundation.exp(logProbabilities[v])) }
            lossOut[r] = loss
        }
    }
    terms.tokenLogProbabilities = tokenResults.prefix(terms.tokens.count).map(\.logProbability)
    terms.tokenIsTop1 = tokenResults.prefix(terms.tokens.count).map(\.top1)
    terms.klDivergences = Array(klResults.prefix(terms.distributions.count))
    var loss = 0.0
    for r in 0..<R { loss += rowLoss[r] }
    return loss
}
