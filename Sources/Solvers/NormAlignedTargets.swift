// NAS, norm-aligned targets (arXiv 2602.02543): over a long history the optimised targets of
// later edits grow in norm — the edited model needs ever larger pushes — and those outsized
// values are what collapses it. NAS rescales the MLP-output value each target asks for,
// v* = W k + δ at the last edit layer, to one reference norm measured on the unedited model
// (the mean ‖v*‖ of an ordinary edit there), and does not edit a fact whose ‖v*‖ exceeds a bound
// (δ = 0: its key is then held where it is, like an earlier fact's). The reference is a
// hyperparameter, so a stored commit carries it and a replay rescales nothing again.
import Models
import Tensors

public enum NormAlignedTargets {
    /// The share of the largest reference norms left out of the mean (NAS drops values above the
    /// 95 % quantile: a few facts the base model resists would otherwise set the scale).
    public static let referenceUpperQuantile = 0.95

    /// v* = W k + δ of each target (d_model each), W the MLP output projection of `layer` and k
    /// its input at the bare prompt's subject token, on the weights as they are.
    static func values(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest], targets: [TargetValue],
                       layer: Int) throws -> [[Double]] {
        let bare = try requests.map { try FactTokenization.prompt($0, tokenizer: tokenizer) }
        let keys = model.keys(prompts: bare.map(\.ids), positions: bare.map(\.subjectPosition), layer: layer)  // n × d_ff
        let outputs = model.mlpOutputWeight(layer: layer).multiplied(by: keys, transposeOther: true)         // d_model × n
        return targets.enumerated().map { i, target in
            (0..<outputs.rows).map { Double(outputs[$0, i]) + Double(target.delta[$0]) }
        }
    }

    /// `targets` with each v* rescaled to `norm`; a fact whose ‖v*‖ was above `skipFactor` ×
    /// `norm` has its δ set to zero and `normSkipped` set.
    public static func align(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest], targets: [TargetValue],
                             layer: Int, norm: Double, skipFactor: Double) throws -> [TargetValue] {
        let starred = try values(model: model, tokenizer: tokenizer, requests: requests, targets: targets, layer: layer)
        var aligned = targets
        for (i, value) in starred.enumerated() {
            let length = euclideanNorm(value)
            var change = [Double](repeating: 0, count: value.count)
            if length > skipFactor * norm {
                aligned[i].normSkipped = true
                change = targets[i].delta.map { -Double($0) }
            } else if length > 0 {
                let scale = norm / length
                change = value.map { $0 * (scale - 1) }
            }
            aligned[i].delta = zip(targets[i].delta, change).map { Float(Double($0) + $1) }
            aligned[i].target = zip(targets[i].target, change).map { Float(Double($0) + $1) }
        }
        return aligned
    }

    /// The reference norm: the mean ‖v*‖ of the targets of `requests` optimised on `model` as
    /// given (which should be the unedited model), those above the `referenceUpperQuantile`
    /// quantile left out.
    /// - Throws: as `TargetValueOptimizer.optimize`; `.invalidHyperparameter` when no fact is given.
    public static func referenceNorm(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest],
                                     hyperparameters h: EditHyperparameters, prefixes: [String]) throws -> Double {
        if requests.isEmpty { throw SolverError.invalidHyperparameter(field: "nas_target_norm", reason: "no facts to measure it on") }
        let layer = h.sortedLayers[h.sortedLayers.count - 1]
        let targets = try TargetValueOptimizer.optimize(model: model, tokenizer: tokenizer, requests: requests, prefixes: prefixes,
                                                        layer: layer, hyperparameters: h)
        let norms = try values(model: model, tokenizer: tokenizer, requests: requests, targets: targets, layer: layer)
            .map(euclideanNorm)
        return trimmedMean(norms, upperQuantile: referenceUpperQuantile)
    }

    /// The mean of `values` without those above their `upperQuantile` quantile (linear
    /// interpolation between order statistics).
    static func trimmedMean(_ values: [Double], upperQuantile: Double) -> Double {
        let sorted = values.sorted()
        let position = upperQuantile * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = min(low + 1, sorted.count - 1)
        let cut = sorted[low] + (position - Double(low)) * (sorted[high] - sorted[low])
        let kept = sorted.filter { $0 <= cut }
        return kept.reduce(0, +) / Double(kept.count)
    }

    static func euclideanNorm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
}
