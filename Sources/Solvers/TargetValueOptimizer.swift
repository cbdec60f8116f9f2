// Target values v* (ROME's compute_v, MEMIT's compute_z): the vector δ that, added to the
// residual stream after the last edit layer at the subject's last token, makes the model say the
// new target. Adam on δ through a DeltaSession; the model's weights are not touched.
//
// Loss (per fact):
//   mean over rewrite prompts of the mean per-token NLL of the target tokens
//   + kl_factor · KL(original ‖ edited) of the next token after "{subject} is a"
//   + v_weight_decay · ‖δ‖² / ‖h‖²
// The squared weight decay is used (the references use ‖δ‖ / ‖h‖², which is not smooth at 0 and
// depends on the scale of h); h is the residual at the bare prompt.
import Foundation
import Models
import Tensors

/// The optimised target of one fact.
public struct TargetValue: Sendable {
    /// z = h + δ (d_model): the residual stream the edit should produce at the last edit layer.
    public var target: [Float]
    /// δ (d_model).
    public var delta: [Float]
    /// h: the residual at the bare prompt's subject token before the edit (d_model).
    public var base: [Float]
    /// Loss evaluations made (≤ v_num_grad_steps).
    public var steps: Int
    /// Total loss at the last evaluation.
    public var loss: Double
    /// Mean per-token NLL of the target over the rewrite prompts at the last evaluation.
    public var negativeLogLikelihood: Double
    /// Whether every target token was top-1 in every rewrite prompt at the last evaluation.
    public var allTop1: Bool
}

/// Optimises δ for one fact.
public enum TargetValueOptimizer {
    /// - Parameters:
    ///   - prefixes: sampled context prefixes; the bare prompt is always used first.
    ///   - layer: the last edit layer (δ is added to the residual after this block).
    /// - Throws: `SolverError` when the fact cannot be tokenized or the result is not finite.
    public static func optimize(model: EditableModel, tokenizer: Tokenizer, request: EditRequest, prefixes: [String],
                                layer: Int, hyperparameters h: EditHyperparameters) throws -> TargetValue {
        let targetIDs = try FactTokenization.target(request.targetNew, label: request.label, tokenizer: tokenizer)
        var prompts: [[Int]] = []
        var deltaPositions: [Int] = []
        var tokenTargets: [TokenTarget] = []
        let contexts = [""] + prefixes
        let weight = Float(1.0 / Double(targetIDs.count * contexts.count))
        for prefix in contexts {
            let prompt = try FactTokenization.prompt(request, prefix: prefix, tokenizer: tokenizer)
            let forced = TeacherForcedPrompt(prompt: prompt.ids, target: targetIDs)
            try checkLength(forced.ids.count, model: model, label: request.label)
            for (position, id) in zip(forced.positions, forced.targetIDs) {
                tokenTargets.append(TokenTarget(prompt: prompts.count, position: position, tokenID: id))
            }
            prompts.append(forced.ids)
            deltaPositions.append(prompt.subjectPosition)
        }
        let tokenWeights = [Float](repeating: weight, count: tokenTargets.count)

        var distributionTargets: [DistributionTarget] = []
        if h.klFactor > 0 {
            let kl = try FactTokenization.subjectPrompt(template: h.klPrompt, subject: request.subject, prefix: "",
                                                        label: request.label, tokenizer: tokenizer)
            try checkLength(kl.ids.count, model: model, label: request.label)
            let last = kl.ids.count - 1
            let reference = model.logProbabilities(prompts: [kl.ids], positions: [last]).row(0)
            distributionTargets.append(DistributionTarget(prompt: prompts.count, position: last,
                                                          referenceLogProbabilities: reference))
            prompts.append(kl.ids)
            deltaPositions.append(kl.subjectPosition)
        }
        let klWeights = [Float](repeating: Float(h.klFactor), count: distributionTargets.count)

        let session = model.deltaSession(prompts: prompts, deltaPositions: deltaPositions, layer: layer)
        let base = session.baseResiduals.row(0).map(Double.init)
        let baseNormSquared = max(base.reduce(0) { $0 + $1 * $1 }, 1e-30)
        let maxNorm = h.clampNormFactor * baseNormSquared.squareRoot()
        let d = base.count

        var delta = [Double](repeating: 0, count: d)
        var adam = AdamState(count: d, learningRate: h.vLearningRate)
        var steps = 0
        var loss = Double.infinity
        var nll = Double.infinity
        var allTop1 = false
        for step in 0..<h.vSteps {
            let evaluation = session.evaluate(delta: delta.map(Float.init), tokenTargets: tokenTargets,
                                              tokenWeights: tokenWeights, distributionTargets: distributionTargets,
                                              klWeights: klWeights)
            steps = step + 1
            let deltaNormSquared = delta.reduce(0) { $0 + $1 * $1 }
            loss = evaluation.loss + h.vWeightDecay * deltaNormSquared / baseNormSquared
            nll = -zip(evaluation.targetLogProbabilities, tokenWeights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            allTop1 = evaluation.targetIsTop1.allSatisfy { $0 }
            guard loss.isFinite, evaluation.gradient.allSatisfy(\.isFinite) else {
                throw SolverError.nonFinite(layer: layer, what: "the target-value loss of \(request.label)")
            }
            let top1Stop = h.vStopAtTop1 && allTop1 && nll <= (h.vTop1MaxNLL ?? .infinity)
            if loss < h.vLossThreshold || top1Stop || step == h.vSteps - 1 { break }
            var gradient = evaluation.gradient.map(Double.init)
            let decay = 2 * h.vWeightDecay / baseNormSquared
            for i in 0..<d { gradient[i] += decay * delta[i] }
            adam.step(&delta, gradient: gradient)
            let norm = delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > maxNorm {
                let scale = maxNorm / norm
                for i in 0..<d { delta[i] *= scale }
            }
        }
        let target = zip(base, delta).map { Float($0 + $1) }
        return TargetValue(target: target, delta: delta.map(Float.init), base: base.map(Float.init), steps: steps,
                           loss: loss, negativeLogLikelihood: nll, allTop1: allTop1)
    }

    static func checkLength(_ count: Int, model: EditableModel, label: String) throws {
        if count > model.configuration.contextLength {
            throw SolverError.promptTooLong(fact: label, tokens: count, context: model.configuration.contextLength)
        }
    }
}

/// Adam (Kingma & Ba) with PyTorch's defaults: β1 0.9, β2 0.999, ε 1e-8, no weight decay.
struct AdamState {
    var m: [Double]
    var v: [Double]
    var t = 0
    let learningRate: Double
    let beta1 = 0.9
    let beta2 = 0.999
    let epsilon = 1e-8

    init(count: Int, learningRate: Double) {
        m = [Double](repeating: 0, count: count)
        v = [Double](repeating: 0, count: count)
        self.learningRate = learningRate
    }

    mutating func step(_ x: inout [Double], gradient g: [Double]) {
        t += 1
        let correction1 = 1 - pow(beta1, Double(t))
        let correction2 = 1 - pow(beta2, Double(t))
        for i in 0..<x.count {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
            let mHat = m[i] / correction1
            let vHat = v[i] / correction2
            x[i] -= learningRate * mHat / (vHat.squareRoot() + epsilon)
        }
    }
}
