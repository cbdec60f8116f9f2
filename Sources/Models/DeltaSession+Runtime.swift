// The δ-optimisation session of EditableModel.deltaSession for both architectures: the residual
// after block `layer` is computed once; each evaluation adds δ at one row per prompt, runs the
// blocks above (keeping their activations), the final norm and LM head at the rows that enter
// the loss only, then back-propagates input gradients (no weight gradients) down to δ.
import Foundation
import Tensors

final class RuntimeDeltaSession<M: DecoderStack>: DeltaSession {
    typealias S = M.S
    let model: M
    let layer: Int
    let context: ForwardContext<S>
    /// (T, C) residual after block `layer`, before δ.
    let cached: ScalarBuffer<S>
    /// Row of each prompt's δ position.
    let deltaRows: [Int]
    let baseResiduals: Matrix<Float>
    /// Activations of blocks layer+1…L−1, refilled by every evaluation.
    let activations: [BlockActivations<S>]
    let scratch: BackwardScratch<S>

    @_specialize(where M == LlamaModel<Float>)
    @_specialize(where M == GPT2Model<Float>)
    init(model: M, prompts: [[Int]], deltaPositions: [Int], layer: Int) {
        let configuration = model.configuration
        precondition(layer >= 0 && layer < configuration.layerCount, "layer \(layer) out of range")
        model.checkPrompts(prompts, positions: deltaPositions)
        self.model = model
        self.layer = layer
        let context = ForwardContext<S>(prompts: prompts)
        let cached = model.forwardBlocks(context, through: layer)
        let deltaRows = model.rows(context, positions: deltaPositions)
        self.context = context
        self.cached = cached
        self.deltaRows = deltaRows
        baseResiduals = model.gather(cached.pointer, width: configuration.hiddenSize, rows: deltaRows)
            .floatMatrix(rows: prompts.count, cols: configuration.hiddenSize)
        activations = ((layer + 1)..<configuration.layerCount).map { _ in
            BlockActivations(configuration: configuration, context: context)
        }
        scratch = BackwardScratch(configuration: configuration, context: context)
    }

    @_specialize(where M == LlamaModel<Float>)
    @_specialize(where M == GPT2Model<Float>)
    func evaluate(delta: [Float], tokenTargets: [TokenTarget], tokenWeights: [Float],
                  distributionTargets: [DistributionTarget], klWeights: [Float]) -> DeltaEvaluation {
        let configuration = model.configuration
        let C = configuration.hiddenSize, V = configuration.vocabularySize, T = context.rows
        let L = configuration.layerCount
        precondition(delta.count == C, "δ of \(delta.count) values, d_model is \(C)")
        precondition(tokenWeights.count == tokenTargets.count, "\(tokenWeights.count) weights for \(tokenTargets.count) token targets")
        precondition(klWeights.count == distributionTargets.count, "\(klWeights.count) weights for \(distributionTargets.count) distributions")

        // Rows entering the loss, each once.
        var lossRows: [Int] = []
        var slot: [Int: Int] = [:]
        func row(prompt: Int, position: Int) -> Int {
            precondition(prompt >= 0 && prompt < context.segments.count, "target prompt \(prompt) out of range")
            let segment = context.segments[prompt]
            precondition(position >= 0 && position < segment.count, "target position \(position) outside prompt \(prompt)")
            let r = segment.lowerBound + position
            if let s = slot[r] { return s }
            slot[r] = lossRows.count
            lossRows.append(r)
            return lossRows.count - 1
        }
        let tokenSlots = tokenTargets.map { row(prompt: $0.prompt, position: $0.position) }
        let distributionSlots = distributionTargets.map { row(prompt: $0.prompt, position: $0.position) }
        let R = lossRows.count

        // Forward: x = cached + δ at the δ rows, blocks above `layer`.
        let x = ScalarBuffer<S>.copy(of: cached.pointer, count: T * C)       // (T, C)
        for r in deltaRows {
            for c in 0..<C { x.pointer[r * C + c] += S(delta[c]) }
        }
        for l in (layer + 1)..<L { model.blockForward(layer: l, x.pointer, context, activations[l - layer - 1]) }
        let h = model.gather(x.pointer, width: C, rows: lossRows)             // (R, C)
        let normed = ScalarBuffer<S>(count: R * C)                             // (R, C)
        let mean = ScalarBuffer<S>(count: R), rstd = ScalarBuffer<S>(count: R)
        model.finalNormForward(normed.pointer, mean.pointer, rstd.pointer, h.pointer, R)
        let logits = ScalarBuffer<S>(count: R * V)                             // (R, V)
        matmulForward(logits.pointer, normed.pointer, model.head.pointer, nil, R, C, V)

        // Loss and ∂loss/∂logits, in Double.
        var logProbabilities = [Double](repeating: 0, count: R * V)           // (R, V)
        var argmax = [Int](repeating: 0, count: R)
        for r in 0..<R {
            let row = logits.pointer + r * V
            var best = 0
            var maxValue = -Double.infinity
            for v in 0..<V where Double(row[v]) > maxValue { maxValue = Double(row[v]); best = v }
            argmax[r] = best
            var sum = 0.0
            for v in 0..<V { sum += Foundation.exp(Double(row[v]) - maxValue) }
            let lse = maxValue + Foundation.log(sum)
            for v in 0..<V { logProbabilities[r * V + v] = Double(row[v]) - lse }
        }
        var dlogits = [Double](repeating: 0, count: R * V)                     // (R, V)
        var rowWeight = [Double](repeating: 0, count: R)
        var loss = 0.0
        var targetLogProbabilities: [Float] = []
        var targetIsTop1: [Bool] = []
        for (i, target) in tokenTargets.enumerated() {
            precondition(target.tokenID >= 0 && target.tokenID < V, "target token \(target.tokenID) outside the vocabulary")
            let r = tokenSlots[i]
            let w = Double(tokenWeights[i])
            let lp = logProbabilities[r * V + target.tokenID]
            targetLogProbabilities.append(Float(lp))
            targetIsTop1.append(argmax[r] == target.tokenID)
            loss -= w * lp
            rowWeight[r] += w
            dlogits[r * V + target.tokenID] -= w
        }
        var klDivergences: [Float] = []
        for (d, target) in distributionTargets.enumerated() {
            precondition(target.referenceLogProbabilities.count == V, "reference distribution of \(target.referenceLogProbabilities.count), vocabulary is \(V)")
            let r = distributionSlots[d]
            let w = Double(klWeights[d])
            var kl = 0.0
            for v in 0..<V {
                let lref = Double(target.referenceLogProbabilities[v])
                let pref = Foundation.exp(lref)
                if pref > 0 { kl += pref * (lref - logProbabilities[r * V + v]) }
                dlogits[r * V + v] -= w * pref
            }
            klDivergences.append(Float(kl))
            loss += w * kl
            rowWeight[r] += w
        }
        // Every weighted term contributes w · softmax to its row.
        for r in 0..<R where rowWeight[r] != 0 {
            for v in 0..<V { dlogits[r * V + v] += rowWeight[r] * Foundation.exp(logProbabilities[r * V + v]) }
        }

        // Backward: LM head, final norm, blocks L−1 … layer+1.
        let dlogitsS = ScalarBuffer<S>(count: R * V)
        for i in 0..<(R * V) { dlogitsS.pointer[i] = S(dlogits[i]) }
        let dnormed = ScalarBuffer<S>(count: R * C)                            // (R, C)
        matmulBackward(dnormed.pointer, dlogitsS.pointer, model.head.pointer, R, C, V, accumulate: false)
        let dh = ScalarBuffer<S>(count: R * C)                                 // (R, C)
        model.finalNormBackward(dh.pointer, dnormed.pointer, h.pointer, mean.pointer, rstd.pointer, R)
        let dx = ScalarBuffer<S>(count: T * C)                                 // (T, C)
        for (r, row) in lossRows.enumerated() {
            for c in 0..<C { dx.pointer[row * C + c] += dh.pointer[r * C + c] }
        }
        for l in stride(from: L - 1, through: layer + 1, by: -1) {
            model.blockBackward(layer: l, dx.pointer, context, activations[l - layer - 1], scratch)
        }
        var gradient = [Double](repeating: 0, count: C)
        for r in deltaRows {
            for c in 0..<C { gradient[c] += Double(dx.pointer[r * C + c]) }
        }
        return DeltaEvaluation(targetLogProbabilities: targetLogProbabilities, targetIsTop1: targetIsTop1,
                               klDivergences: klDivergences, gradient: gradient.map { Float($0) }, loss: loss)
    }
}
