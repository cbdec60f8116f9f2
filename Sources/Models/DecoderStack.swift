// The machinery every architecture shares: a batch of prompts packed into one (T, C) activation
// matrix, per-block activation buffers, the KV cache, and the internal protocol through which
// LlamaModel, GPT2Model and GPTJModel expose their embedding, blocks and final norm to the shared forward,
// backward, delta-session and generation code. Not public: the public surface is TransformerModel.
import Tensors

// MARK: - Batch

/// The rows of one forward call: every prompt's rows back to back (T rows in all). With a KV
/// cache, each prompt's rows continue a sequence whose earlier keys and values are in the cache.
final class ForwardContext<S: RuntimeScalar> {
    /// (T) token id of each row.
    let tokens: [Int]
    /// (T) absolute position of each row within its sequence.
    let positions: [Int]
    /// Each prompt's rows.
    let segments: [Range<Int>]
    var rows: Int { tokens.count }
    /// Keys and values of earlier positions: segment s's sequence starts at cache row
    /// `cacheStarts[s]` and already holds `cacheLengths[s]` rows; its new rows are written after them.
    let cache: KVCache<S>?
    let cacheStarts: [Int]
    let cacheLengths: [Int]
    /// RoPE tables (T, HS/2), made on first use by a model that rotates.
    var ropeCos: ScalarBuffer<S>?
    var ropeSin: ScalarBuffer<S>?

    /// Whole prompts, each from position 0, without a cache.
    convenience init(prompts: [[Int]]) {
        self.init(rows: prompts, startPositions: prompts.map { _ in 0 }, cache: nil, cacheStarts: [], cacheLengths: [])
    }

    /// `rows[s]` continues sequence s from position `startPositions[s]`.
    init(rows: [[Int]], startPositions: [Int], cache: KVCache<S>?, cacheStarts: [Int], cacheLengths: [Int]) {
        var tokens: [Int] = []
        var positions: [Int] = []
        var segments: [Range<Int>] = []
        for (s, row) in rows.enumerated() {
            segments.append(tokens.count..<(tokens.count + row.count))
            tokens += row
            positions += Array(startPositions[s]..<(startPositions[s] + row.count))
        }
        self.tokens = tokens
        self.positions = positions
        self.segments = segments
        self.cache = cache
        self.cacheStarts = cacheStarts
        self.cacheLengths = cacheLengths
    }

    /// Key rows segment s attends over (the cached ones plus its own).
    func keyRowCount(segment s: Int) -> Int { (cache == nil ? 0 : cacheLengths[s]) + segments[s].count }

    /// Offset of each segment's (NH, Tq, Tk) probabilities, and the total.
    func probabilityLayout(heads NH: Int) -> (offsets: [Int], total: Int) {
        var offsets: [Int] = []
        var total = 0
        for s in segments.indices {
            offsets.append(total)
            total += NH * segments[s].count * keyRowCount(segment: s)
        }
        return (offsets, total)
    }

    /// RoPE tables (T, R/2) of the configuration's R rotated dimensions, θ and scaling.
    func ropeTables(_ configuration: ModelConfiguration) -> (cos: ScalarBuffer<S>, sin: ScalarBuffer<S>) {
        if let ropeCos, let ropeSin { return (ropeCos, ropeSin) }
        let frequencies = ropeInverseFrequencies(dimensions: configuration.rotatedDimensions,
                                                 theta: Double(configuration.ropeTheta), scaling: configuration.ropeScaling)
        let cos = ScalarBuffer<S>(count: rows * frequencies.count)
        let sin = ScalarBuffer<S>(count: rows * frequencies.count)
        Models.ropeTables(cos.pointer, sin.pointer, positions: positions, inverseFrequencies: frequencies)
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
    let k: ScalarBuffer<S>          // (T, NKV·HS), after RoPE
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
    /// Buffers only one architecture needs (Gemma3BlockExtras), made by its first blockForward.
    var architectureExtras: AnyObject?

    init(configuration: ModelConfiguration, context: ForwardContext<S>) {
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize
        let HS = configuration.headDimension
        let NH = configuration.headCount, NKV = configuration.keyValueHeadCount
        input = ScalarBuffer(count: T * C)
        norm1 = ScalarBuffer(count: T * C)
        mean1 = ScalarBuffer(count: T)
        rstd1 = ScalarBuffer(count: T)
        q = ScalarBuffer(count: T * NH * HS)
        k = ScalarBuffer(count: T * NKV * HS)
        v = ScalarBuffer(count: T * NKV * HS)
        let layout = context.probabilityLayout(heads: NH)
        probs = ScalarBuffer(count: layout.total)
        probOffsets = layout.offsets
        attn = ScalarBuffer(count: T * NH * HS)
        mid = ScalarBuffer(count: T * C)
        norm2 = ScalarBuffer(count: T * C)
        mean2 = ScalarBuffer(count: T)
        rstd2 = ScalarBuffer(count: T)
        ffnA = ScalarBuffer(count: T * F)
        ffnB = ScalarBuffer(count: configuration.architecture == .gpt2 ? 0 : T * F)
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
    let dprobs: ScalarBuffer<S>     // (Tq, Tk) of the largest prompt
    let dkFull: ScalarBuffer<S>     // (Tk, NKV·HS) of the longest prompt, with a cache
    let dvFull: ScalarBuffer<S>     // (Tk, NKV·HS)

    init(configuration: ModelConfiguration, context: ForwardContext<S>) {
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize
        let HS = configuration.headDimension
        let NH = configuration.headCount, NKV = configuration.keyValueHeadCount
        let largest = context.segments.indices.map { context.segments[$0].count * context.keyRowCount(segment: $0) }.max() ?? 0
        let longest = context.cache == nil ? 0 : context.segments.indices.map { context.keyRowCount(segment: $0) }.max() ?? 0
        dmid = ScalarBuffer(count: T * C)
        dnorm = ScalarBuffer(count: T * C)
        dkey = ScalarBuffer(count: T * F)
        dA = ScalarBuffer(count: T * F)
        dB = ScalarBuffer(count: T * F)
        dattn = ScalarBuffer(count: T * NH * HS)
        dq = ScalarBuffer(count: T * NH * HS)
        dk = ScalarBuffer(count: T * NKV * HS)
        dv = ScalarBuffer(count: T * NKV * HS)
        dprobs = ScalarBuffer(count: largest)
        dkFull = ScalarBuffer(count: longest * NKV * HS)
        dvFull = ScalarBuffer(count: longest * NKV * HS)
    }
}

/// Keys and values of earlier positions, per layer (capacity, NKV·HS); which rows belong to which
/// sequence is the ForwardContext's business.
final class KVCache<S: RuntimeScalar> {
    let capacity: Int
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

/// Runs causal attention prompt by prompt: acts.attn from acts.q and acts.k/acts.v (with a
/// cache, the new keys and values are first appended to the cached ones of `layer`).
func attentionSegmentsForward<S: RuntimeScalar>(
    _ acts: BlockActivations<S>, _ context: ForwardContext<S>, layer: Int, configuration: ModelConfiguration
) {
    let HS = configuration.headDimension, NH = configuration.headCount, NKV = configuration.keyValueHeadCount
    let KVW = NKV * HS
    for (s, segment) in context.segments.enumerated() {
        let Tq = segment.count
        let Tk = context.keyRowCount(segment: s)
        let q = acts.q.pointer + segment.lowerBound * NH * HS
        let out = acts.attn.pointer + segment.lowerBound * NH * HS
        let probs = acts.probs.pointer + acts.probOffsets[s]
        var k = acts.k.pointer + segment.lowerBound * KVW
        var v = acts.v.pointer + segment.lowerBound * KVW
        if let cache = context.cache {
            let first = context.cacheStarts[s]
            let append = (first + context.cacheLengths[s]) * KVW
            precondition(first + Tk <= cache.capacity, "KV cache of \(cache.capacity) rows overflows")
            (cache.keys[layer].pointer + append).update(from: k, count: Tq * KVW)
            (cache.values[layer].pointer + append).update(from: v, count: Tq * KVW)
            k = cache.keys[layer].pointer + first * KVW
            v = cache.values[layer].pointer + first * KVW
        }
        attentionForward(out, probs, q, k, v, Tq, Tk, NH, NKV, HS, window: configuration.slidingWindow)
    }
}

/// scratch.dq, dk, dv (T rows) from scratch.dattn, prompt by prompt. With a cache, the gradients
/// of the cached keys and values (constants) are dropped.
func attentionSegmentsBackward<S: RuntimeScalar>(
    _ scratch: BackwardScratch<S>, _ acts: BlockActivations<S>, _ context: ForwardContext<S>,
    layer: Int, configuration: ModelConfiguration
) {
    let HS = configuration.headDimension, NH = configuration.headCount, NKV = configuration.keyValueHeadCount
    let KVW = NKV * HS
    if context.cache == nil {
        scratch.dk.zero()
        scratch.dv.zero()
    }
    for (s, segment) in context.segments.enumerated() {
        let Tq = segment.count
        let Tk = context.keyRowCount(segment: s)
        let qOffset = segment.lowerBound * NH * HS
        let kvOffset = segment.lowerBound * KVW
        var k = acts.k.pointer + kvOffset, v = acts.v.pointer + kvOffset
        var dk = scratch.dk.pointer + kvOffset, dv = scratch.dv.pointer + kvOffset
        if let cache = context.cache {
            k = cache.keys[layer].pointer + context.cacheStarts[s] * KVW
            v = cache.values[layer].pointer + context.cacheStarts[s] * KVW
            dk = scratch.dkFull.pointer
            dv = scratch.dvFull.pointer
            dk.update(repeating: 0, count: Tk * KVW)
            dv.update(repeating: 0, count: Tk * KVW)
        }
        attentionBackward(scratch.dq.pointer + qOffset, dk, dv, scratch.dprobs.pointer,
                          scratch.dattn.pointer + qOffset, acts.probs.pointer + acts.probOffsets[s],
                          acts.q.pointer + qOffset, k, v, Tq, Tk, NH, NKV, HS)
        if context.cache != nil {
            (scratch.dk.pointer + kvOffset).update(from: dk + (Tk - Tq) * KVW, count: Tq * KVW)
            (scratch.dv.pointer + kvOffset).update(from: dv + (Tk - Tq) * KVW, count: Tq * KVW)
        }
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
    /// LM head bias (V), when the architecture has one (GPT-J).
    var headBias: ScalarBuffer<S>? { get }
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
    /// The RMSNorm weights (C) between block `layer`'s MLP output projection and the residual
    /// stream (Gemma-3's post-feedforward norm), or nil where the projection's output is added to
    /// the residual as it is.
    func mlpOutputNorm(layer: Int) -> ScalarBuffer<S>?
}

extension DecoderStack {
    var headBias: ScalarBuffer<S>? { nil }
    func mlpOutputNorm(layer: Int) -> ScalarBuffer<S>? { nil }
}
