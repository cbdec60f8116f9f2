// The public face of the transformer runtime: one protocol over both architectures, the
// result types of its forward passes and of generation. The computation lives in
// TransformerModel+Runtime.swift (forward passes), DeltaSession+Runtime.swift (δ optimisation)
// and Generation.swift (KV-cache decoding).
import Tensors

/// A causal language model mledit can run, inspect and edit: `LlamaModel`, `GPT2Model` or `GPTJModel`.
/// Prompts are token ids without anything prepended; every prompt must be non-empty, no longer
/// than `configuration.contextLength`, with ids below `configuration.vocabularySize`
/// (violations are programmer errors and stop the process).
public protocol TransformerModel: EditableModel {
    /// The end-of-sequence token generation stops at by default, when the checkpoint names one.
    var eosTokenID: Int? { get }
    /// Logits at `positions[i]` of `prompts[i]` (n × vocabulary); the LM head runs on those rows only.
    func logits(prompts: [[Int]], positions: [Int]) -> Matrix<Float>
    /// Logits at every position of one prompt (T × vocabulary).
    func logits(prompt: [Int]) -> Matrix<Float>
    /// The residual stream of one prompt at every depth.
    func hiddenStates(prompt: [Int]) -> HiddenStates
    /// Continues `prompt` by up to `maxNewTokens` tokens with a KV cache.
    func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions) -> Generation
}

extension TransformerModel {
    /// Greedy continuation.
    public func generate(prompt: [Int], maxNewTokens: Int) -> Generation {
        generate(prompt: prompt, maxNewTokens: maxNewTokens, sampling: SamplingOptions())
    }
}

/// The residual stream of one prompt (each matrix T × d_model).
public struct HiddenStates: Sendable {
    /// Token (+ position, GPT-2) embeddings entering block 0.
    public var embeddings: Matrix<Float>
    /// `afterLayer[i]`: the output of block i (before any final norm, also for the last block).
    public var afterLayer: [Matrix<Float>]
    /// The final norm applied to the last block's output: what the LM head sees.
    public var finalNorm: Matrix<Float>
}

/// How `generate` picks tokens.
public struct SamplingOptions: Sendable, Equatable {
    /// 0 picks the argmax (greedy); otherwise logits are divided by it before sampling.
    public var temperature: Float
    /// Sample among the `topK` most likely tokens only (0: all).
    public var topK: Int
    /// Seed of the `SeededGenerator` used for sampling: the same seed gives the same tokens.
    public var seed: UInt64
    /// Tokens that end generation (emitted, then stop); nil means the model's `eosTokenID`.
    public var stopTokenIDs: [Int]?
    /// How many of the most likely tokens to report with their log-probabilities at each step.
    public var topLogProbabilityCount: Int

    public init(temperature: Float = 0, topK: Int = 0, seed: UInt64 = 0, stopTokenIDs: [Int]? = nil,
                topLogProbabilityCount: Int = 0) {
        self.temperature = temperature
        self.topK = topK
        self.seed = seed
        self.stopTokenIDs = stopTokenIDs
        self.topLogProbabilityCount = topLogProbabilityCount
    }
}

/// A token and its log-probability under the model (before temperature).
public struct TokenLogProbability: Sendable, Equatable {
    public var tokenID: Int
    public var logProbability: Float
    public init(tokenID: Int, logProbability: Float) {
        self.tokenID = tokenID
        self.logProbability = logProbability
    }
}

/// What `generate` produced.
public struct Generation: Sendable {
    /// The new tokens (a stop token, when reached, is included).
    public var tokens: [Int]
    /// Whether generation ended on a stop token rather than the token budget or the context.
    public var stoppedAtStopToken: Bool
    /// log p of each chosen token (before temperature).
    public var logProbabilities: [Float]
    /// Per step, the `topLogProbabilityCount` most likely tokens, most likely first.
    public var topLogProbabilities: [[TokenLogProbability]]
}
