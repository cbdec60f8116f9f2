// The contract between a transformer runtime and the editing solvers (DESIGN.md §2): what an
// edit needs from a model, and nothing about how the model computes it.
import Tensors

/// One target token in a prompt whose log-probability enters a loss: the token `tokenID` is
/// predicted from the logits at `position` of prompt `prompt`.
public struct TokenTarget: Sendable, Equatable {
    public var prompt: Int
    public var position: Int
    public var tokenID: Int
    public init(prompt: Int, position: Int, tokenID: Int) {
        self.prompt = prompt
        self.position = position
        self.tokenID = tokenID
    }
}

/// A next-token distribution to stay close to: KL(reference ‖ current) at `position` of
/// prompt `prompt`, with `referenceLogProbabilities` over the whole vocabulary.
public struct DistributionTarget: Sendable {
    public var prompt: Int
    public var position: Int
    public var referenceLogProbabilities: [Float]
    public init(prompt: Int, position: Int, referenceLogProbabilities: [Float]) {
        self.prompt = prompt
        self.position = position
        self.referenceLogProbabilities = referenceLogProbabilities
    }
}

/// What one evaluation of a δ-perturbed forward pass returns.
public struct DeltaEvaluation: Sendable {
    /// log p(tokenID) for every `TokenTarget`, in the order given.
    public var targetLogProbabilities: [Float]
    /// Whether each target token is the argmax at its position.
    public var targetIsTop1: [Bool]
    /// KL(reference ‖ current) for every `DistributionTarget`, in the order given.
    public var klDivergences: [Float]
    /// ∂loss/∂δ (d_model).
    public var gradient: [Float]
    /// The scalar loss the gradient belongs to.
    public var loss: Double
    public init(targetLogProbabilities: [Float], targetIsTop1: [Bool], klDivergences: [Float],
                gradient: [Float], loss: Double) {
        self.targetLogProbabilities = targetLogProbabilities
        self.targetIsTop1 = targetIsTop1
        self.klDivergences = klDivergences
        self.gradient = gradient
        self.loss = loss
    }
}

/// An optimisation context for one vector δ ∈ ℝ^{d_model} added to the edit value of block
/// `layer` (see `EditableModel.editValues`) at one position per prompt: to the residual stream
/// right after the block where its MLP output enters the residual as it is, to the MLP output
/// before its norm where one follows. The hidden states entering the blocks above `layer` are
/// computed once when the session is made; each `evaluate` runs only the blocks above `layer`.
public protocol DeltaSession: AnyObject {
    /// The edit values of block `layer` at each prompt's δ position (n × d_model), before δ.
    var baseValues: Matrix<Float> { get }
    /// Runs the blocks above the edit layer with δ added, and returns the log-probabilities and
    /// the gradient with respect to δ of
    /// `loss = −Σ_t tokenWeights[t]·log p(target_t) + Σ_d klWeights[d]·KL(reference_d ‖ current_d)`.
    func evaluate(delta: [Float], tokenTargets: [TokenTarget], tokenWeights: [Float],
                  distributionTargets: [DistributionTarget], klWeights: [Float]) -> DeltaEvaluation
    /// Several δ in one pass: prompt p gets `deltas[groups[p]]`, and `gradients[g]` is ∂loss/∂δ_g.
    /// Prompts with no target at or after their δ position are not run at all, so a caller drops
    /// a finished group by leaving out its targets. The loss is the same sum as `evaluate(delta:)`.
    func evaluate(deltas: [[Float]], groups: [Int], tokenTargets: [TokenTarget], tokenWeights: [Float],
                  distributionTargets: [DistributionTarget], klWeights: [Float]) -> GroupedDeltaEvaluation
}

/// What one evaluation of several δ returns.
public struct GroupedDeltaEvaluation: Sendable {
    /// log p(tokenID) for every `TokenTarget`, in the order given.
    public var targetLogProbabilities: [Float]
    /// Whether each target token is the argmax at its position.
    public var targetIsTop1: [Bool]
    /// KL(reference ‖ current) for every `DistributionTarget`, in the order given.
    public var klDivergences: [Float]
    /// ∂loss/∂δ_g (d_model) for every group g.
    public var gradients: [[Float]]
    /// The scalar loss the gradients belong to.
    public var loss: Double
}

extension DeltaSession {
    public func evaluate(delta: [Float], tokenTargets: [TokenTarget], tokenWeights: [Float],
                         distributionTargets: [DistributionTarget], klWeights: [Float]) -> DeltaEvaluation {
        let grouped = evaluate(deltas: [delta], groups: [Int](repeating: 0, count: baseValues.rows),
                               tokenTargets: tokenTargets, tokenWeights: tokenWeights,
                               distributionTargets: distributionTargets, klWeights: klWeights)
        return DeltaEvaluation(targetLogProbabilities: grouped.targetLogProbabilities, targetIsTop1: grouped.targetIsTop1,
                               klDivergences: grouped.klDivergences, gradient: grouped.gradients[0], loss: grouped.loss)
    }
}

/// A causal language model that edits can be computed against. Weights are row-major `out × in`.
public protocol EditableModel: AnyObject {
    var configuration: ModelConfiguration { get }

    /// The MLP output projection of `layer` (d_model × d_ff): Llama `down_proj`, GPT-2 `c_proj`.
    func mlpOutputWeight(layer: Int) -> Matrix<Float>
    /// Replaces the MLP output projection of `layer`, e.g. with an edited version.
    func setMLPOutputWeight(layer: Int, _ weight: Matrix<Float>)

    /// Keys: the inputs of the MLP output projection of `layer` (d_ff wide) at `positions[i]` of
    /// `prompts[i]`, one row per prompt (n × d_ff).
    func keys(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float>
    /// Keys at every position of every prompt, for the preservation statistics: for each layer in
    /// `layers`, a (Σ prompt lengths) × d_ff matrix, prompts' rows in order. Runs only the blocks
    /// up to the highest layer asked for.
    func keysAtAllPositions(prompts: [[Int]], layers: [Int]) -> [Int: Matrix<Float>]
    /// The residual stream after block `layer` at `positions[i]` of `prompts[i]` (n × d_model).
    func residuals(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float>
    /// What a target value of block `layer` is a value of, at `positions[i]` of `prompts[i]`
    /// (n × d_model): the residual stream after the block where its MLP output enters the
    /// residual as it is (a change of the one is a change of the other), the MLP output before
    /// its norm where one follows (Gemma-3) — an RMSNorm passes no change of scale, so a target
    /// beyond it could ask for what no edit of the projection reaches.
    func editValues(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float>
    /// Next-token log-probabilities at `positions[i]` of `prompts[i]` (n × vocabulary).
    func logProbabilities(prompts: [[Int]], positions: [Int]) -> Matrix<Float>
    /// Next-token log-probabilities at every position of `positionsPerPrompt[i]` in `prompts[i]`,
    /// prompt after prompt ((Σ counts) × vocabulary): one pass over each prompt however many of
    /// its positions are read (the rows of a teacher-forced target).
    func logProbabilities(prompts: [[Int]], positionsPerPrompt: [[Int]]) -> Matrix<Float>
    /// Starts a δ-optimisation session (see `DeltaSession`); `deltaPositions[i]` is where δ is added
    /// in `prompts[i]`.
    func deltaSession(prompts: [[Int]], deltaPositions: [Int], layer: Int) -> DeltaSession
    /// Extends every prompt token by token, all prompts in one batch with a KV cache: after each
    /// step `choose(i, logProbabilities)` picks prompt i's next token from its next-token
    /// log-probabilities (prompts in index order within a step). Prompt i gets at most
    /// `budgets[i]` new tokens and never grows beyond the context. Returns the extended prompts.
    func extend(prompts: [[Int]], budgets: [Int], choose: (Int, [Float]) -> Int) -> [[Int]]
    /// A batch's residual stream kept between calls, for the keys of ascending layers while
    /// the layers below them change (see `ResidualStream`).
    func residualStream(prompts: [[Int]]) -> ResidualStream
}

/// The residual stream of a batch of prompts, advanced block by block as keys of higher layers
/// are asked for. `keys(layer:)` runs the blocks from where the stream stands up to `layer − 1`
/// with the weights as they are at that call, then block `layer` on a copy, so an edit of a
/// layer made after its keys were read reaches the keys of every higher layer, and each block
/// runs once however many layers are asked for.
public protocol ResidualStream: AnyObject {
    /// Keys of `layer` (the inputs of its MLP output projection) at `positions[i]` of prompt i
    /// (n × d_ff). Layers must be asked for in ascending order.
    func keys(layer: Int, positions: [Int]) -> Matrix<Float>
    /// Keys of `layer` at every position of `positions[i]` in prompt i, prompt after prompt
    /// ((Σ counts) × d_ff). May be asked for the layer of the last `keys` call again.
    func keys(layer: Int, positionsPerPrompt: [[Int]]) -> Matrix<Float>
}
