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
    /// NAS: the target's norm was beyond the bound, so δ was set to zero (see NormAlignedTargets).
    public var normSkipped = false
}

/// Optimises δ for facts, many at once.
///
/// Facts are independent (each one's loss sees only its own δ), so a batch is cut into sessions
/// of a few facts each: one δ per fact, one forward and one backward over all the session's
/// rows per step, and a fact that has met its stop leaves the rows of later steps. Sessions run
/// on `ComputeThreads`; how the batch is cut depends only on the number of facts, so the result
/// does not depend on the thread count.
public enum TargetValueOptimizer {
    /// Facts per δ session at most: bigger sessions make bigger GEMMs, more sessions keep every
    /// core busy (bench/RESULTS.md, `targets` benchmark).
    public static let maximumFactsPerSession = 64
    /// A batch of at least this many facts is cut into at least this many sessions.
    public static let minimumSessions = 1

    /// The sessions a batch of `count` facts is cut into: near-equal consecutive ranges.
    public static func sessions(count: Int) -> [Range<Int>] {
        if count == 0 { return [] }
        let sessions = max(min(count, minimumSessions), (count + maximumFactsPerSession - 1) / maximumFactsPerSession)
        let base = count / sessions, extra = count % sessions
        var ranges: [Range<Int>] = []
        var start = 0
        for s in 0..<sessions {
            let size = base + (s < extra ? 1 : 0)
            ranges.append(start..<(start + size))
            start += size
        }
        return ranges
    }

    /// Optimises δ for one fact.
    /// - Parameters:
    ///   - prefixes: sampled context prefixes; the bare prompt is always used first.
    ///   - layer: the last edit layer (δ is added to the residual after this block).
    /// - Throws: `SolverError` when the fact cannot be tokenized or the result is not finite.
    public static func optimize(model: EditableModel, tokenizer: Tokenizer, request: EditRequest, prefixes: [String],
                                layer: Int, hyperparameters h: EditHyperparameters) throws -> TargetValue {
        try optimize(model: model, tokenizer: tokenizer, requests: [request], prefixes: prefixes, layer: layer,
                     hyperparameters: h)[0]
    }

    /// Optimises δ for every fact of `requests`, in the order given.
    /// - Parameter progress: called with the number of facts finished, from the thread that finished them.
    /// - Throws: as `optimize(request:)`; the first failing fact in order is reported.
    public static func optimize(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest], prefixes: [String],
                                layer: Int, hyperparameters h: EditHyperparameters,
                                progress: (@Sendable (Int) -> Void)? = nil) throws -> [TargetValue] {
        let problems = try requests.map { try FactProblem(model: model, tokenizer: tokenizer, request: $0, prefixes: prefixes, hyperparameters: h) }
        let ranges = sessions(count: requests.count)
        let finished = FinishedCount(progress)
        let outcomes: [Result<[TargetValue], Error>] = ComputeThreads.map(ranges.count) { s in
            Result { try optimizeSession(model: model, problems: Array(problems[ranges[s]]), layer: layer, hyperparameters: h,
                                         finished: finished) }
        }
        return try outcomes.flatMap { try $0.get() }
    }

    /// One session: the facts' prompts side by side, each fact with its own δ and Adam state.
    static func optimizeSession(model: EditableModel, problems: [FactProblem], layer: Int, hyperparameters h: EditHyperparameters,
                                finished: FinishedCount) throws -> [TargetValue] {
        var prompts: [[Int]] = []
        var deltaPositions: [Int] = []
        var groups: [Int] = []
        var offsets: [Int] = []
        for (f, problem) in problems.enumerated() {
            offsets.append(prompts.count)
            prompts += problem.prompts
            deltaPositions += problem.deltaPositions
            groups += [Int](repeating: f, count: problem.prompts.count)
        }
        var references: [[Float]] = []
        if h.klFactor > 0 {
            let kl = problems.map { $0.prompts[$0.klPrompt!] }
            let logp = model.logProbabilities(prompts: kl, positions: kl.map { $0.count - 1 })
            references = problems.indices.map { logp.row($0) }
        }
        let session = model.deltaSession(prompts: prompts, deltaPositions: deltaPositions, layer: layer)

        var states = problems.indices.map { f -> FactState in
            let base = session.baseValues.row(offsets[f]).map(Double.init)
            return FactState(base: base, learningRate: h.vLearningRate, clamp: h.clampNormFactor)
        }
        for step in 0..<h.vSteps {
            let running = problems.indices.filter { !states[$0].done }
            if running.isEmpty { break }
            var tokenTargets: [TokenTarget] = [], tokenWeights: [Float] = []
            var distributionTargets: [DistributionTarget] = [], klWeights: [Float] = []
            var tokenOwners: [Int] = [], klOwners: [Int] = []
            for f in running {
                let problem = problems[f]
                for target in problem.tokenTargets {
                    tokenTargets.append(TokenTarget(prompt: offsets[f] + target.prompt, position: target.position, tokenID: target.tokenID))
                    tokenWeights.append(problem.tokenWeight)
                    tokenOwners.append(f)
                }
                if let kl = problem.klPrompt {
                    let ids = problem.prompts[kl]
                    distributionTargets.append(DistributionTarget(prompt: offsets[f] + kl, position: ids.count - 1,
                                                                  referenceLogProbabilities: references[f]))
                    klWeights.append(Float(h.klFactor))
                    klOwners.append(f)
                }
            }
            let evaluation = session.evaluate(deltas: states.map { $0.deltaFloat }, groups: groups, tokenTargets: tokenTargets,
                                              tokenWeights: tokenWeights, distributionTargets: distributionTargets, klWeights: klWeights)
            var fitLoss = [Double](repeating: 0, count: problems.count)
            var nll = [Double](repeating: 0, count: problems.count)
            var allTop1 = [Bool](repeating: true, count: problems.count)
            for (t, f) in tokenOwners.enumerated() {
                let term = -Double(evaluation.targetLogProbabilities[t]) * Double(tokenWeights[t])
                fitLoss[f] += term
                nll[f] += term
                allTop1[f] = allTop1[f] && evaluation.targetIsTop1[t]
            }
            for (k, f) in klOwners.enumerated() { fitLoss[f] += Double(klWeights[k]) * Double(evaluation.klDivergences[k]) }
            for f in running {
                let gradient = evaluation.gradients[f].map(Double.init)
                let last = step == h.vSteps - 1
                try states[f].step(fitLoss: fitLoss[f], nll: nll[f], allTop1: allTop1[f], gradient: gradient, last: last,
                                   hyperparameters: h, layer: layer, label: problems[f].label)
                if states[f].done { finished.add(1) }
            }
        }
        return states.map { state in
            let target = zip(state.base, state.delta).map { Float($0 + $1) }
            return TargetValue(target: target, delta: state.delta.map(Float.init), base: state.base.map(Float.init),
                               steps: state.steps, loss: state.loss, negativeLogLikelihood: state.nll, allTop1: state.allTop1)
        }
    }

    static func checkLength(_ count: Int, model: EditableModel, label: String) throws {
        if count > model.configuration.contextLength {
            throw SolverError.promptTooLong(fact: label, tokens: count, context: model.configuration.contextLength)
        }
    }
}

/// One fact's prompts and loss terms, in the fact's own prompt numbering: the bare prompt, one
/// per prefix (each with the target teacher-forced), then the KL prompt when klFactor > 0.
struct FactProblem {
    let label: String
    var prompts: [[Int]] = []
    var deltaPositions: [Int] = []
    var tokenTargets: [TokenTarget] = []
    let tokenWeight: Float
    var klPrompt: Int?

    init(model: EditableModel, tokenizer: Tokenizer, request: EditRequest, prefixes: [String], hyperparameters h: EditHyperparameters) throws {
        label = request.label
        let targetIDs = try FactTokenization.target(request.targetNew, label: request.label, tokenizer: tokenizer)
        let contexts = [""] + prefixes
        tokenWeight = Float(1.0 / Double(targetIDs.count * contexts.count))
        for prefix in contexts {
            let prompt = try FactTokenization.prompt(request, prefix: prefix, tokenizer: tokenizer)
            let forced = TeacherForcedPrompt(prompt: prompt.ids, target: targetIDs)
            try TargetValueOptimizer.checkLength(forced.ids.count, model: model, label: request.label)
            for (position, id) in zip(forced.positions, forced.targetIDs) {
                tokenTargets.append(TokenTarget(prompt: prompts.count, position: position, tokenID: id))
            }
            prompts.append(forced.ids)
            deltaPositions.append(prompt.subjectPosition)
        }
        if h.klFactor > 0 {
            let kl = try FactTokenization.subjectPrompt(template: h.klPrompt, subject: request.subject, prefix: "",
                                                        label: request.label, tokenizer: tokenizer)
            try TargetValueOptimizer.checkLength(kl.ids.count, model: model, label: request.label)
            klPrompt = prompts.count
            prompts.append(kl.ids)
            deltaPositions.append(kl.subjectPosition)
        }
    }
}

/// δ, its Adam state and the figures of its last evaluation, for one fact.
struct FactState {
    let base: [Double]
    let baseNormSquared: Double
    let maxNorm: Double
    var delta: [Double]
    var adam: AdamState
    var steps = 0
    var loss = Double.infinity
    var nll = Double.infinity
    var allTop1 = false
    var done = false

    init(base: [Double], learningRate: Double, clamp: Double) {
        self.base = base
        baseNormSquared = max(base.reduce(0) { $0 + $1 * $1 }, 1e-30)
        maxNorm = clamp * baseNormSquared.squareRoot()
        delta = [Double](repeating: 0, count: base.count)
        adam = AdamState(count: base.count, learningRate: learningRate)
    }

    var deltaFloat: [Float] { delta.map(Float.init) }

    /// Records one evaluation and either stops (loss threshold, the top-1 stop, the last step) or
    /// takes an Adam step with the weight decay, then clamps ‖δ‖.
    mutating func step(fitLoss: Double, nll: Double, allTop1: Bool, gradient: [Double], last: Bool,
                       hyperparameters h: EditHyperparameters, layer: Int, label: String) throws {
        steps += 1
        let deltaNormSquared = delta.reduce(0) { $0 + $1 * $1 }
        loss = fitLoss + h.vWeightDecay * deltaNormSquared / baseNormSquared
        self.nll = nll
        self.allTop1 = allTop1
        guard loss.isFinite, gradient.allSatisfy(\.isFinite) else {
            throw SolverError.nonFinite(layer: layer, what: "the target-value loss of \(label)")
        }
        let top1Stop = h.vStopAtTop1 && allTop1 && nll <= (h.vTop1MaxNLL ?? .infinity)
        if loss < h.vLossThreshold || top1Stop || last {
            done = true
            return
        }
        var g = gradient
        let decay = 2 * h.vWeightDecay / baseNormSquared
        for i in 0..<g.count { g[i] += decay * delta[i] }
        adam.step(&delta, gradient: g)
        let norm = delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > maxNorm {
            let scale = maxNorm / norm
            for i in 0..<delta.count { delta[i] *= scale }
        }
    }
}

/// Facts finished so far across sessions, reported to a progress callback.
final class FinishedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private let progress: (@Sendable (Int) -> Void)?
    init(_ progress: (@Sendable (Int) -> Void)?) { self.progress = progress }
    /// Serialised, so the callback never runs on two threads at once.
    func add(_ n: Int) {
        guard let progress else { return }
        lock.lock()
        defer { lock.unlock() }
        count += n
        progress(count)
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
