// Gemma-3 (text): sandwich RMSNorms around attention and the MLP, RMSNorm of every query and key
// head, RoPE (rotate-half) with base 10,000 on sliding-window layers and the global base on the
// others, queries scaled by query_pre_attn_scalar^(−1/2), a GeGLU MLP, and embeddings scaled by
// √d_model. One block:
//   h   = x + postAttnNorm(o(attn(rope(qNorm(q(n))), rope(kNorm(k(n))), v(n)))),  n = attnNorm(x)
//   out = h + postFfwNorm(down(gelu_tanh(gate(m)) ⊙ up(m))),                    m = ffnNorm(h)
// Norm weights are held as the factor itself (1 + w in Hugging Face's terms; GGUF stores that).
// The shared runtime (TransformerModel+Runtime.swift) drives these kernels; edits replace ffn_down.
import Foundation
import Tensors

/// A Gemma-3 text model computing in `S` (Float, or Double for gradient checks).
public final class Gemma3Model<S: RuntimeScalar>: DecoderStack {
    public let configuration: ModelConfiguration
    public let eosTokenID: Int?
    let settings: Gemma3Settings

    struct Block {
        let attnNorm: ScalarBuffer<S>       // (C)
        let wq: ScalarBuffer<S>             // (NH·HS, C)
        let wk: ScalarBuffer<S>             // (NKV·HS, C)
        let wv: ScalarBuffer<S>             // (NKV·HS, C)
        let qNorm: ScalarBuffer<S>          // (HS)
        let kNorm: ScalarBuffer<S>          // (HS)
        let wo: ScalarBuffer<S>             // (C, NH·HS)
        let postAttnNorm: ScalarBuffer<S>   // (C)
        let ffnNorm: ScalarBuffer<S>        // (C)
        let wGate: ScalarBuffer<S>          // (F, C)
        let wUp: ScalarBuffer<S>            // (F, C)
        var wDown: ScalarBuffer<S>          // (C, F), replaceable by an edit
        let postFfwNorm: ScalarBuffer<S>    // (C)
    }

    var blocks: [Block]
    let embedding: ScalarBuffer<S>          // (V, C)
    let outputNorm: ScalarBuffer<S>         // (C)
    let head: ScalarBuffer<S>               // (V, C), the embedding itself when tied
    /// √d_model, rounded to S as transformers rounds it to the model's dtype.
    let embeddingScale: S
    /// q is multiplied by this after RoPE so that the shared kernels' 1/√HS scaling yields
    /// query_pre_attn_scalar^(−1/2); exactly 1 when the two agree (every Gemma-3 size but 27B).
    let queryFactor: S

    /// Builds the model from canonical weights (see `WeightSource`), norm weights as factors.
    /// - Throws: `ModelError` when a tensor is missing or has the wrong shape.
    public init(configuration: ModelConfiguration, weights: some WeightSource, eosTokenID: Int? = nil) throws {
        guard configuration.architecture == .gemma3, let settings = configuration.gemma3 else {
            throw ModelError.invalidValue(file: "configuration", key: "architecture", reason: "Gemma3Model needs a gemma3 configuration")
        }
        let C = configuration.hiddenSize, F = configuration.intermediateSize, V = configuration.vocabularySize
        let HS = configuration.headDimension
        let QW = configuration.headCount * HS, KVW = configuration.keyValueHeadCount * HS
        self.configuration = configuration
        self.settings = settings
        self.eosTokenID = eosTokenID
        embeddingScale = S(Double(C).squareRoot())
        queryFactor = S((Double(HS) / Double(settings.queryPreAttentionScalar)).squareRoot())
        embedding = try weights.required("token_embd.weight", shape: [V, C])
        outputNorm = try weights.required("output_norm.weight", shape: [C])
        head = configuration.tiedEmbeddings ? embedding : try weights.required("output.weight", shape: [V, C])
        blocks = try (0..<configuration.layerCount).map { l in
            let p = "blk.\(l)."
            return Block(
                attnNorm: try weights.required(p + "attn_norm.weight", shape: [C]),
                wq: try weights.required(p + "attn_q.weight", shape: [QW, C]),
                wk: try weights.required(p + "attn_k.weight", shape: [KVW, C]),
                wv: try weights.required(p + "attn_v.weight", shape: [KVW, C]),
                qNorm: try weights.required(p + "attn_q_norm.weight", shape: [HS]),
                kNorm: try weights.required(p + "attn_k_norm.weight", shape: [HS]),
                wo: try weights.required(p + "attn_output.weight", shape: [C, QW]),
                postAttnNorm: try weights.required(p + "post_attention_norm.weight", shape: [C]),
                ffnNorm: try weights.required(p + "ffn_norm.weight", shape: [C]),
                wGate: try weights.required(p + "ffn_gate.weight", shape: [F, C]),
                wUp: try weights.required(p + "ffn_up.weight", shape: [F, C]),
                wDown: try weights.required(p + "ffn_down.weight", shape: [C, F]),
                postFfwNorm: try weights.required(p + "post_ffw_norm.weight", shape: [C]))
        }
    }

    private var eps: S { S(configuration.normEpsilon) }

    /// The block's extra buffers, made on first use for the rows of `context`.
    private func extras(_ acts: BlockActivations<S>, _ context: ForwardContext<S>) -> Gemma3BlockExtras<S> {
        if let made = acts.architectureExtras as? Gemma3BlockExtras<S> { return made }
        let made = Gemma3BlockExtras<S>(configuration: configuration, rows: context.rows)
        acts.architectureExtras = made
        return made
    }

    private func rope(_ extras: Gemma3BlockExtras<S>, _ context: ForwardContext<S>, layer: Int)
        -> (cos: ScalarBuffer<S>, sin: ScalarBuffer<S>) {
        let sliding = settings.slidingLayers[layer]
        if let tables = sliding ? extras.localRope : extras.globalRope { return tables }
        let HS = configuration.headDimension
        let cos = ScalarBuffer<S>(count: context.rows * HS / 2), sin = ScalarBuffer<S>(count: context.rows * HS / 2)
        let theta = Double(sliding ? settings.localRopeTheta : configuration.ropeTheta)
        ropeTables(cos.pointer, sin.pointer, positions: context.positions, HS: HS, theta: theta)
        if sliding { extras.localRope = (cos, sin) } else { extras.globalRope = (cos, sin) }
        return (cos, sin)
    }

    // MARK: Embedding and final norm

    @_specialize(where S == Float)
    func embedForward(_ x: UnsafeMutablePointer<S>, _ context: ForwardContext<S>) {
        let C = configuration.hiddenSize
        for (t, token) in context.tokens.enumerated() {
            let row = x + t * C, source = embedding.pointer + token * C
            for c in 0..<C { row[c] = source[c] * embeddingScale }
        }
    }

    @_specialize(where S == Float)
    func finalNormForward(_ out: UnsafeMutablePointer<S>, _ mean: UnsafeMutablePointer<S>,
                          _ rstd: UnsafeMutablePointer<S>, _ inp: UnsafePointer<S>, _ R: Int) {
        rmsnormForward(out, rstd, inp, outputNorm.pointer, R, configuration.hiddenSize, eps: eps)
    }

    @_specialize(where S == Float)
    func finalNormBackward(_ dinp: UnsafeMutablePointer<S>, _ dout: UnsafePointer<S>, _ inp: UnsafePointer<S>,
                           _ mean: UnsafePointer<S>, _ rstd: UnsafePointer<S>, _ R: Int) {
        rmsnormBackward(dinp, dout, inp, outputNorm.pointer, rstd, R, configuration.hiddenSize)
    }

    // MARK: Block

    @_specialize(where S == Float)
    func blockForward(layer: Int, _ x: UnsafeMutablePointer<S>, _ context: ForwardContext<S>,
                      _ acts: BlockActivations<S>) {
        let w = blocks[layer]
        let e = extras(acts, context)
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize
        let HS = configuration.headDimension
        let NH = configuration.headCount, NKV = configuration.keyValueHeadCount
        let rope = rope(e, context, layer: layer)

        acts.input.pointer.update(from: x, count: T * C)
        rmsnormForward(acts.norm1.pointer, acts.rstd1.pointer, x, w.attnNorm.pointer, T, C, eps: eps)
        // q (T, NH·HS), k and v (T, NKV·HS); q and k normalised head by head, then rotated
        matmulForward(e.qRaw.pointer, acts.norm1.pointer, w.wq.pointer, nil, T, C, NH * HS)
        matmulForward(e.kRaw.pointer, acts.norm1.pointer, w.wk.pointer, nil, T, C, NKV * HS)
        matmulForward(acts.v.pointer, acts.norm1.pointer, w.wv.pointer, nil, T, C, NKV * HS)
        rmsnormForward(acts.q.pointer, e.qRstd.pointer, e.qRaw.pointer, w.qNorm.pointer, T * NH, HS, eps: eps)
        rmsnormForward(acts.k.pointer, e.kRstd.pointer, e.kRaw.pointer, w.kNorm.pointer, T * NKV, HS, eps: eps)
        ropeForward(acts.q.pointer, rope.cos.pointer, rope.sin.pointer, T, NH, HS)
        ropeForward(acts.k.pointer, rope.cos.pointer, rope.sin.pointer, T, NKV, HS)
        if queryFactor != 1 {
            for i in 0..<(T * NH * HS) { acts.q.pointer[i] *= queryFactor }
        }
        if settings.slidingLayers[layer] {
            slidingAttentionSegmentsForward(acts, context, layer: layer, configuration: configuration, window: settings.slidingWindow)
        } else {
            attentionSegmentsForward(acts, context, layer: layer, configuration: configuration)
        }
        matmulForward(e.attnOut.pointer, acts.attn.pointer, w.wo.pointer, nil, T, NH * HS, C)
        rmsnormForward(acts.proj.pointer, e.postAttnRstd.pointer, e.attnOut.pointer, w.postAttnNorm.pointer, T, C, eps: eps)
        residualForward(acts.mid.pointer, x, acts.proj.pointer, T * C)
        // MLP
        rmsnormForward(acts.norm2.pointer, acts.rstd2.pointer, acts.mid.pointer, w.ffnNorm.pointer, T, C, eps: eps)
        matmulForward(acts.ffnA.pointer, acts.norm2.pointer, w.wGate.pointer, nil, T, C, F)
        matmulForward(acts.ffnB.pointer, acts.norm2.pointer, w.wUp.pointer, nil, T, C, F)
        gegluForward(acts.key.pointer, acts.ffnA.pointer, acts.ffnB.pointer, T * F)
        matmulForward(e.mlpOut.pointer, acts.key.pointer, w.wDown.pointer, nil, T, F, C)
        rmsnormForward(acts.proj.pointer, e.postFfwRstd.pointer, e.mlpOut.pointer, w.postFfwNorm.pointer, T, C, eps: eps)
        residualForward(x, acts.mid.pointer, acts.proj.pointer, T * C)
    }

    @_specialize(where S == Float)
    func blockBackward(layer: Int, _ dx: UnsafeMutablePointer<S>, _ context: ForwardContext<S>,
                       _ acts: BlockActivations<S>, _ scratch: BackwardScratch<S>) {
        let w = blocks[layer]
        let e = extras(acts, context)
        let g = e.gradients()
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize
        let HS = configuration.headDimension
        let NH = configuration.headCount, NKV = configuration.keyValueHeadCount
        let rope = rope(e, context, layer: layer)

        // out = mid + postFfwNorm(down(key)): through the post-MLP norm, down, GeGLU, the MLP norm
        g.dOut.zero()
        rmsnormBackward(g.dOut.pointer, dx, e.mlpOut.pointer, w.postFfwNorm.pointer, e.postFfwRstd.pointer, T, C)
        matmulBackward(scratch.dkey.pointer, g.dOut.pointer, w.wDown.pointer, T, F, C, accumulate: false)
        gegluBackward(scratch.dA.pointer, scratch.dB.pointer, scratch.dkey.pointer, acts.ffnA.pointer, acts.ffnB.pointer, T * F)
        matmulBackward(scratch.dnorm.pointer, scratch.dA.pointer, w.wGate.pointer, T, C, F, accumulate: false)
        matmulBackward(scratch.dnorm.pointer, scratch.dB.pointer, w.wUp.pointer, T, C, F, accumulate: true)
        scratch.dmid.pointer.update(from: dx, count: T * C)
        rmsnormBackward(scratch.dmid.pointer, scratch.dnorm.pointer, acts.mid.pointer, w.ffnNorm.pointer, acts.rstd2.pointer, T, C)
        // mid = input + postAttnNorm(o(attn))
        g.dOut.zero()
        rmsnormBackward(g.dOut.pointer, scratch.dmid.pointer, e.attnOut.pointer, w.postAttnNorm.pointer, e.postAttnRstd.pointer, T, C)
        matmulBackward(scratch.dattn.pointer, g.dOut.pointer, w.wo.pointer, T, NH * HS, C, accumulate: false)
        // The probabilities outside a sliding window are zero, so the shared backward applies.
        attentionSegmentsBackward(scratch, acts, context, layer: layer, configuration: configuration)
        if queryFactor != 1 {
            for i in 0..<(T * NH * HS) { scratch.dq.pointer[i] *= queryFactor }
        }
        ropeBackward(scratch.dq.pointer, rope.cos.pointer, rope.sin.pointer, T, NH, HS)
        ropeBackward(scratch.dk.pointer, rope.cos.pointer, rope.sin.pointer, T, NKV, HS)
        g.dqRaw.zero()
        g.dkRaw.zero()
        rmsnormBackward(g.dqRaw.pointer, scratch.dq.pointer, e.qRaw.pointer, w.qNorm.pointer, e.qRstd.pointer, T * NH, HS)
        rmsnormBackward(g.dkRaw.pointer, scratch.dk.pointer, e.kRaw.pointer, w.kNorm.pointer, e.kRstd.pointer, T * NKV, HS)
        matmulBackward(scratch.dnorm.pointer, g.dqRaw.pointer, w.wq.pointer, T, C, NH * HS, accumulate: false)
        matmulBackward(scratch.dnorm.pointer, g.dkRaw.pointer, w.wk.pointer, T, C, NKV * HS, accumulate: true)
        matmulBackward(scratch.dnorm.pointer, scratch.dv.pointer, w.wv.pointer, T, C, NKV * HS, accumulate: true)
        dx.update(from: scratch.dmid.pointer, count: T * C)
        rmsnormBackward(dx, scratch.dnorm.pointer, acts.input.pointer, w.attnNorm.pointer, acts.rstd1.pointer, T, C)
    }

    // MARK: Edited weights

    func downProjection(layer: Int) -> ScalarBuffer<S> { blocks[layer].wDown }

    func replaceDownProjection(layer: Int, _ weight: ScalarBuffer<S>) { blocks[layer].wDown = weight }

    func mlpOutputNorm(layer: Int) -> ScalarBuffer<S>? { blocks[layer].postFfwNorm }
}

/// What a Gemma-3 block keeps beyond `BlockActivations` for T rows: the inputs of the Q/K and
/// post norms with their reciprocal RMS, the block's RoPE tables, and backward scratch.
final class Gemma3BlockExtras<S: RuntimeScalar> {
    let qRaw: ScalarBuffer<S>           // (T, NH·HS) q before its norm
    let qRstd: ScalarBuffer<S>          // (T·NH)
    let kRaw: ScalarBuffer<S>           // (T, NKV·HS)
    let kRstd: ScalarBuffer<S>          // (T·NKV)
    let attnOut: ScalarBuffer<S>        // (T, C) o(attn) before the post-attention norm
    let postAttnRstd: ScalarBuffer<S>   // (T)
    let mlpOut: ScalarBuffer<S>         // (T, C) down(key) before the post-MLP norm
    let postFfwRstd: ScalarBuffer<S>    // (T)
    /// cos, sin (T, HS/2) for the rows' positions with the local and the global base.
    var localRope: (cos: ScalarBuffer<S>, sin: ScalarBuffer<S>)?
    var globalRope: (cos: ScalarBuffer<S>, sin: ScalarBuffer<S>)?
    private let configuration: ModelConfiguration
    private let rows: Int
    private var backward: Gradients?

    struct Gradients {
        let dOut: ScalarBuffer<S>       // (T, C) gradient at a post-norm's input
        let dqRaw: ScalarBuffer<S>      // (T, NH·HS)
        let dkRaw: ScalarBuffer<S>      // (T, NKV·HS)
    }

    init(configuration: ModelConfiguration, rows T: Int) {
        let C = configuration.hiddenSize, HS = configuration.headDimension
        let NH = configuration.headCount, NKV = configuration.keyValueHeadCount
        self.configuration = configuration
        self.rows = T
        qRaw = ScalarBuffer(count: T * NH * HS)
        qRstd = ScalarBuffer(count: T * NH)
        kRaw = ScalarBuffer(count: T * NKV * HS)
        kRstd = ScalarBuffer(count: T * NKV)
        attnOut = ScalarBuffer(count: T * C)
        postAttnRstd = ScalarBuffer(count: T)
        mlpOut = ScalarBuffer(count: T * C)
        postFfwRstd = ScalarBuffer(count: T)
    }

    /// The backward buffers, made on the first backward pass only.
    func gradients() -> Gradients {
        if let backward { return backward }
        let HS = configuration.headDimension
        let made = Gradients(dOut: ScalarBuffer(count: rows * configuration.hiddenSize),
                             dqRaw: ScalarBuffer(count: rows * configuration.headCount * HS),
                             dkRaw: ScalarBuffer(count: rows * configuration.keyValueHeadCount * HS))
        backward = made
        return made
    }
}

extension TensorNaming {
    /// Whether a canonical Gemma-3 tensor is an RMSNorm weight, which Hugging Face stores as w
    /// of the factor (1 + w) and GGUF (and mledit) as the factor itself.
    public static func isGemma3Norm(canonical name: String) -> Bool {
        name.hasSuffix("norm.weight")
    }
}
