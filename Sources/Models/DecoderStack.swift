// The machinery both architectures share: a batch of prompts packed into one (T, C) activation
// matrix, per-block activation buffers, the KV cache, and the internal protocol through which
// LlamaModel and GPT2Model expose their embedding, blocks and final norm to the shared forward,
// backward, delta-session and generation code. Not public: the public surface is TransformerModel.
import Tensors

// MARK: - Batch

/// The rows of one forward call: every prompt's tokens back to back (T rows in all).
final class ForwardContext<S: RuntimeScalar> {
    /// (T) token id of each row.
    let tokens: [Int]
    /// (T) absolute position of each row within its prompt.
    let positions: [Int]
    /// Each prompt's rows.
    let segments: [Range<Int>]
    var rows: Int { tokens.count }
    /// Keys and values of earlier positions (generation); the batch is then one prompt's new rows.
    let cache: KVCache<S>?
    /// RoPE tables (T, HS/2), made on first use by a model that rotates.
    var ropeCos: ScalarBuffer<S>?
    var ropeSin: ScalarBuffer<S>?

    init(prompts: [[Int]]) {
        var tokens: [Int] = []
        var positions: [Int] = []
        var segments: [Range<Int>] = []
        for prompt in prompts {
            segments.append(tokens.count..<(tokens.count + prompt.count))
            tokens += prompt
            positions += Array(0..<prompt.count)
        }
        self.tokens = tokens
        self.positions = positions
        self.segments = segments
        self.cache = nil
    }

    /// New tokens continuing the sequence held in `cache`.
    init(continuing cache: KVCache<S>, tokens: [Int]) {
        self.tokens = tokens
        self.positions = Array(cache.length..<(cache.length + tokens.count))
        self.segments = [0..<tokens.count]
        self.cache = cache
    }

    /// Key rows each segment attends over (its own rows, or the cache plus them).
    func keyRowCount(segment: Range<Int>) -> Int { (cache?.length ?? 0) + segment.count }

    /// Offset of each segment's (NH, Tq, Tk) probabilities, and the total.
    func probabilityLayout(heads NH: Int) -> (offsets: [Int], total: Int) {
        var offsets: [Int] = []
        var total = 0
        for segment in segments {
            offsets.append(total)
            total += NH * segment.count * keyRowCount(segment: segment)
        }
        return (offsets, total)
    }

    func ropeTables(headSize HS: Int, theta: Double) -> (cos: ScalarBuffer<S>, sin: ScalarBuffer<S>) {
        if let ropeCos, let ropeSin { return (ropeCos, ropeSin) }
        let cos = ScalarBuffer<S>(count: rows * HS / 2)
        let sin = ScalarBuffer<S>(count: rows * HS / 2)
        Models.ropeTables(cos.pointer, sin.pointer, positions: positions, HS: HS, theta: theta)
        ropeCos = cos
        ropeSin = sin
        return (cos, sin)
    }
}

// MARK: - Buffers

/// Everything one block computes for T rows; kept per layer when a backward pass follows.
final class BlockActivations<S: RuntimeScalar> {
    let input: ScalarBuffer<S>      // (T, C) residual entering the block
    let norm1: ScalarBuffer<S>      // (T, C)
    let mean1: ScalarBuffer<S>      // (T)
    let rstd1: ScalarBuffer<S>      // (T)
    let q: ScalarBuffer<S>          // (T, NH·HS), after RoPE
    let k: ScalarBuffer<S>          // (T, NKV·HS), after RoPE (unused with a KV cache)
    let v: ScalarBuffer<S>          // (T, NKV·HS)
    let probs: ScalarBuffer<S>      // Σ_prompts (NH, Tq, Tk)
    let probOffsets: [Int]
    let attn: ScalarBuffer<S>       // (T, NH·HS) attention output before the output projection
    let mid: ScalarBuffer<S>        // (T, C) residual after attention
    let norm2: ScalarBuffer<S>      // (T, C)
    let mean2: ScalarBuffer<S>      // (T)
    let rstd2: ScalarBuffer<S>      // (T)
    let ffnA: ScalarBuffer<S>       // (T, F) gate (Llama) or c_fc output (GPT-2), pre-activation
    let ffnB: ScalarBuffer<S>       // (T, F) up projection (Llama only)
    let key: ScalarBuffer<S>        // (T, F) the MLP output projection's input
    let proj: ScalarBuffer<S>       // (T, C) scratch: a projection back to d_model

    init(configuration: ModelConfiguration, context: ForwardContext<S>) {
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize
        let HS = configuration.headDimension
        let NH = configuration.headCount, NKV = configuration.keyValueHeadCount
        input = ScalarBuffer(count: T * C)
        norm1 = ScalarBuffer(count: T * C)
        mean1 = ScalarBuffer(count: T)
        rstd1 = ScalarBuffer(count: T)
        q = ScalarBuffer(count: T * NH * HS)
        k = ScalarBuffer(count: context.cache == nil ? T * NKV * HS : 0)
        v = ScalarBuffer(count: context.cache == nil ? T * NKV * HS : 0)
        let layout = context.probabilityLayout(heads: NH)
        probs = ScalarBuffer(count: layout.total)
        probOffsets = layout.offsets
        attn = ScalarBuffer(count: T * NH * HS)
        mid = ScalarBuffer(count: T * C)
        norm2 = ScalarBuffer(count: T * C)
        mean2 = ScalarBuffer(count: T)
        rstd2 = ScalarBuffer(count: T)
        ffnA = ScalarBuffer(count: T * F)
        ffnB = ScalarBuffer(count: configuration.architecture == .llama ? T * F : 0)
        key = ScalarBuffer(count: T * F)
        proj = ScalarBuffer(count: T * C)
    }
}

/// Gradient buffers for one backward pass through a block (T rows).
final class BackwardScratch<S: RuntimeScalar> {
    let dmid: ScalarBuffer<S>       // (T, C)
    let dnorm: ScalarBuffer<S>      // (T, C)
    let dkey: ScalarBuffer<S>       // (T, F)
    let dA: ScalarBuffer<S>         // (T, F)
    let dB: ScalarBuffer<S>         // (T, F)
    let dattn: ScalarBuffer<S>      // (T, NH·HS)
    let dq: ScalarBuffer<S>         // (T, NH·HS)
    let dk: ScalarBuffer<S>         // (T, NKV·HS)
    let dv: ScalarBuffer<S>         // (T, NKV·HS)
    let dprobs: ScalarBuffer<S>     // (max Tq, max Tk) of one prompt

    init(configuration: ModelConfiguration, context: ForwardContext<S>) {
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize
        let HS = configuration.headDimension
        let NH = configuration.headCount, NKV = configuration.keyValueHeadCount
        let longest = context.segments.map(\.count).max() ?? 0
        dmid = ScalarBuffer(count: T * C)
        dnorm = ScalarBuffer(count: T * C)
        dkey = ScalarBuffer(count: T * F)
        dA = ScalarBuffer(count: T * F)
        dB = ScalarBuffer(count: T * F)
        dattn = ScalarBuffer(count: T * NH * HS)
        dq = ScalarBuffer(count: T * NH * HS)
        dk = ScalarBuffer(count: T * NKV * HS)
        dv = ScalarBuffer(count: T * NKV * HS)
        dprobs = ScalarBuffer(count: longest * longest)
    }
}

/// Keys and values of the positions generated so far, per layer (capacity, NKV·HS).
final class KVCache<S: RuntimeScalar> {
    let capacity: Int
    var length = 0
    let keys: [ScalarBuffer<S>]
    let values: [ScalarBuffer<S>]

    init(configuration: ModelConfiguration, capacity: Int) {
        let width = configuration.keyValueHeadCount * configuration.headDimension
        self.capacity = capacity
        keys = (0..<configuration.layerCount).map { _ in ScalarBuffer(count: capacity * width) }
        values = (0..<configuration.layerCount).map { _ in ScalarBuffer(count: capacity * width) }
    }
}

// MARK: - Shared attention over the packed prompts

/// Runs causal attention prompt by prompt: acts.attn from acts.q and the keys/values of `layer`
/// (acts.k/acts.v, or the cache rows written just before).
func attentionSegmentsForward<S: RuntimeScalar>(
    _ acts: BlockActivations<S>, _ context: ForwardContext<S>, layer: Int, configuration: ModelConfiguration
) {
    let HS = configuration.headDimension, NH = configuration.headCount, NKV = configuration.keyValueHeadCount
    for (s, segment) in context.segments.enumerated() {
        let Tq = segment.count
        let Tk = context.keyRowCount(segment: segment)
        let q = acts.q.pointer + segment.lowerBound * NH * HS
        let out = acts.attn.pointer + segment.lowerBound * NH * HS
        let probs = acts.probs.pointer + acts.probOffsets[s]
        if let cache = context.cache {
            attentionForward(out, probs, q, cache.keys[layer].pointer, cache.values[layer].pointer,
                             Tq, Tk, NH, NKV, HS)
        } else {
            let k = acts.k.pointer + segment.lowerBound * NKV * HS
            let v = acts.v.pointer + segment.lowerBound * NKV * HS
            attentionForward(out, probs, q, k, v, Tq, Tk, NH, NKV, HS)
        }
    }
}

/// scratch.dq, dk, dv (T rows) from scratch.dattn, prompt by prompt (no cache).
func attentionSegmentsBackward<S: RuntimeScalar>(
    _ scratch: BackwardScratch<S>, _ acts: BlockActivations<S>, _ context: ForwardContext<S>,
    configuration: ModelConfiguration
) {
    let HS = configuration.headDimension, NH = configuration.headCount, NKV = configuration.keyValueHeadCount
    scratch.dk.zero()
    scratch.dv.zero()
    for (s, segment) in context.segments.enumerated() {
        let T = segment.count
        let qOffset = segment.lowerBound * NH * HS
        let kvOffset = segment.lowerBound * NKV * HS
        attentionBackward(scratch.dq.pointer + qOffset, scratch.dk.pointer + kvOffset,
                          scratch.dv.pointer + kvOffset, scratch.dprobs.pointer,
                          scratch.dattn.pointer + qOffset, acts.probs.pointer + acts.probOffsets[s],
                          acts.q.pointer + qOffset, acts.k.pointer + kvOffset, acts.v.pointer + kvOffset,
                          T, T, NH, NKV, HS)
    }
}

// MARK: - The architecture interface

/// What an architecture provides to the shared runtime. Every function works on the rows of
/// `context`; `x` is the (T, C) residual stream.
protocol DecoderStack: AnyObject {
    associatedtype S: RuntimeScalar
    var configuration: ModelConfiguration { get }
    var eosTokenID: Int? { get }
    /// LM head (V, C).
    var head: ScalarBuffer<S> { get }
    func embedForward(_ x: UnsafeMutablePointer<S>, _ context: ForwardContext<S>)
    /// x (T, C) ← block `layer` applied to x; fills `acts`.
    func blockForward(layer: Int, _ x: UnsafeMutablePointer<S>, _ context: ForwardContext<S>, _ acts: BlockActivations<S>)
    /// dx (T, C): ∂loss/∂(block output) in, ∂loss/∂(block input) out.
    func blockBackward(layer: Int, _ dx: UnsafeMutablePointer<S>, _ context: ForwardContext<S>,
                       _ acts: BlockActivations<S>, _ scratch: BackwardScratch<S>)
    /// out (R, C), mean (R), rstd (R) from inp (R, C).
    func finalNormForward(_ out: UnsafeMutablePointer<S>, _ mean: UnsafeMutablePointer<S>,
                          _ rstd: UnsafeMutablePointer<S>, _ inp: UnsafePointer<S>, _ R: Int)
    /// dinp (R, C) += the gradient through the final norm.
    func finalNormBackward(_ dinp: UnsafeMutablePointer<S>, _ dout: UnsafePointer<S>, _ inp: UnsafePointer<S>,
                           _ mean: UnsafePointer<S>, _ rstd: UnsafePointer<S>, _ R: Int)
    /// The MLP output projection of `layer` (C, F).
    func downProjection(layer: Int) -> ScalarBuffer<S>
    func replaceDownProjection(layer: Int, _ weight: ScalarBuffer<S>)
}
