// The Llama family (SmolLM2, Llama 2/3, Mistral, Qwen2 with q/k/v biases): RMSNorm, rotary
// positions (rotate-half order, the model's θ), grouped-query attention, SwiGLU MLP.
// One block reads like the math: h = x + attn(rmsnorm(x)); out = h + down(silu(gate(n)) ⊙ up(n)),
// n = rmsnorm(h). The shared runtime (TransformerModel+Runtime.swift) drives these kernels.
import Tensors

/// A Llama-architecture model computing in `S` (Float, or Double for gradient checks).
public final class LlamaModel<S: RuntimeScalar>: DecoderStack {
    public let configuration: ModelConfiguration
    public let eosTokenID: Int?

    struct Block {
        let attnNorm: ScalarBuffer<S>   // (C)
        let wq: ScalarBuffer<S>         // (NH·HS, C)
        let wk: ScalarBuffer<S>         // (NKV·HS, C)
        let wv: ScalarBuffer<S>         // (NKV·HS, C)
        let bq: ScalarBuffer<S>?        // (NH·HS)
        let bk: ScalarBuffer<S>?        // (NKV·HS)
        let bv: ScalarBuffer<S>?        // (NKV·HS)
        let wo: ScalarBuffer<S>         // (C, NH·HS)
        let ffnNorm: ScalarBuffer<S>    // (C)
        let wGate: ScalarBuffer<S>      // (F, C)
        let wUp: ScalarBuffer<S>        // (F, C)
        var wDown: ScalarBuffer<S>      // (C, F), replaceable by an edit
    }

    var blocks: [Block]
    let embedding: ScalarBuffer<S>      // (V, C)
    let outputNorm: ScalarBuffer<S>     // (C)
    let head: ScalarBuffer<S>           // (V, C), the embedding itself when tied

    /// Builds the model from canonical weights (see `WeightSource`).
    /// - Throws: `ModelError` when a tensor is missing or has the wrong shape.
    public init(configuration: ModelConfiguration, weights: some WeightSource, eosTokenID: Int? = nil) throws {
        precondition(configuration.architecture == .llama, "LlamaModel needs a llama configuration")
        let C = configuration.hiddenSize, F = configuration.intermediateSize, V = configuration.vocabularySize
        let HS = configuration.headDimension
        let QW = configuration.headCount * HS, KVW = configuration.keyValueHeadCount * HS
        self.configuration = configuration
        self.eosTokenID = eosTokenID
        embedding = try weights.required("token_embd.weight", shape: [V, C])
        outputNorm = try weights.required("output_norm.weight", shape: [C])
        if configuration.tiedEmbeddings {
            head = embedding
        } else {
            head = try weights.required("output.weight", shape: [V, C])
        }
        blocks = try (0..<configuration.layerCount).map { l in
            let p = "blk.\(l)."
            let bias = configuration.attentionBias
            return Block(
                attnNorm: try weights.required(p + "attn_norm.weight", shape: [C]),
                wq: try weights.required(p + "attn_q.weight", shape: [QW, C]),
                wk: try weights.required(p + "attn_k.weight", shape: [KVW, C]),
                wv: try weights.required(p + "attn_v.weight", shape: [KVW, C]),
                bq: bias ? try weights.required(p + "attn_q.bias", shape: [QW]) : nil,
                bk: bias ? try weights.required(p + "attn_k.bias", shape: [KVW]) : nil,
                bv: bias ? try weights.required(p + "attn_v.bias", shape: [KVW]) : nil,
                wo: try weights.required(p + "attn_output.weight", shape: [C, QW]),
                ffnNorm: try weights.required(p + "ffn_norm.weight", shape: [C]),
                wGate: try weights.required(p + "ffn_gate.weight", shape: [F, C]),
                wUp: try weights.required(p + "ffn_up.weight", shape: [F, C]),
                wDown: try weights.required(p + "ffn_down.weight", shape: [C, F]))
        }
    }

    private var eps: S { S(configuration.normEpsilon) }

    // MARK: Embedding and final norm

    @_specialize(where S == Float)
    func embedForward(_ x: UnsafeMutablePointer<S>, _ context: ForwardContext<S>) {
        let C = configuration.hiddenSize
        for (t, token) in context.tokens.enumerated() {
            (x + t * C).update(from: embedding.pointer + token * C, count: C)
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
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize
        let HS = configuration.headDimension
        let NH = configuration.headCount, NKV = configuration.keyValueHeadCount
        let rope = context.ropeTables(configuration)

        acts.input.pointer.update(from: x, count: T * C)
        rmsnormForward(acts.norm1.pointer, acts.rstd1.pointer, x, w.attnNorm.pointer, T, C, eps: eps)
        // q (T, NH·HS); k, v (T, NKV·HS)
        let k = acts.k.pointer, v = acts.v.pointer
        matmulForward(acts.q.pointer, acts.norm1.pointer, w.wq.pointer, w.bq?.pointer, T, C, NH * HS)
        matmulForward(k, acts.norm1.pointer, w.wk.pointer, w.bk?.pointer, T, C, NKV * HS)
        matmulForward(v, acts.norm1.pointer, w.wv.pointer, w.bv?.pointer, T, C, NKV * HS)
        ropeForward(acts.q.pointer, rope.cos.pointer, rope.sin.pointer, T, NH, HS)
        ropeForward(k, rope.cos.pointer, rope.sin.pointer, T, NKV, HS)
        attentionSegmentsForward(acts, context, layer: layer, configuration: configuration)
        matmulForward(acts.proj.pointer, acts.attn.pointer, w.wo.pointer, nil, T, NH * HS, C)
        residualForward(acts.mid.pointer, x, acts.proj.pointer, T * C)
        // MLP
        rmsnormForward(acts.norm2.pointer, acts.rstd2.pointer, acts.mid.pointer, w.ffnNorm.pointer, T, C, eps: eps)
        matmulForward(acts.ffnA.pointer, acts.norm2.pointer, w.wGate.pointer, nil, T, C, F)
        matmulForward(acts.ffnB.pointer, acts.norm2.pointer, w.wUp.pointer, nil, T, C, F)
        swigluForward(acts.key.pointer, acts.ffnA.pointer, acts.ffnB.pointer, T * F)
        matmulForward(acts.proj.pointer, acts.key.pointer, w.wDown.pointer, nil, T, F, C)
        residualForward(x, acts.mid.pointer, acts.proj.pointer, T * C)
    }

    @_specialize(where S == Float)
    func blockBackward(layer: Int, _ dx: UnsafeMutablePointer<S>, _ context: ForwardContext<S>,
                       _ acts: BlockActivations<S>, _ scratch: BackwardScratch<S>) {
        let w = blocks[layer]
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize
        let HS = configuration.headDimension
        let NH = configuration.headCount, NKV = configuration.keyValueHeadCount
        let rope = context.ropeTables(configuration)

        // out = mid + down(key): dkey (T, F), then through SwiGLU and the MLP norm into dmid
        matmulBackward(scratch.dkey.pointer, dx, w.wDown.pointer, T, F, C, accumulate: false)
        swigluBackward(scratch.dA.pointer, scratch.dB.pointer, scratch.dkey.pointer,
                       acts.ffnA.pointer, acts.ffnB.pointer, T * F)
        matmulBackward(scratch.dnorm.pointer, scratch.dA.pointer, w.wGate.pointer, T, C, F, accumulate: false)
        matmulBackward(scratch.dnorm.pointer, scratch.dB.pointer, w.wUp.pointer, T, C, F, accumulate: true)
        scratch.dmid.pointer.update(from: dx, count: T * C)
        rmsnormBackward(scratch.dmid.pointer, scratch.dnorm.pointer, acts.mid.pointer, w.ffnNorm.pointer,
                        acts.rstd2.pointer, T, C)
        // mid = input + o(attn)
        matmulBackward(scratch.dattn.pointer, scratch.dmid.pointer, w.wo.pointer, T, NH * HS, C, accumulate: false)
        attentionSegmentsBackward(scratch, acts, context, layer: layer, configuration: configuration)
        ropeBackward(scratch.dq.pointer, rope.cos.pointer, rope.sin.pointer, T, NH, HS)
        ropeBackward(scratch.dk.pointer, rope.cos.pointer, rope.sin.pointer, T, NKV, HS)
        matmulBackward(scratch.dnorm.pointer, scratch.dq.pointer, w.wq.pointer, T, C, NH * HS, accumulate: false)
        matmulBackward(scratch.dnorm.pointer, scratch.dk.pointer, w.wk.pointer, T, C, NKV * HS, accumulate: true)
        matmulBackward(scratch.dnorm.pointer, scratch.dv.pointer, w.wv.pointer, T, C, NKV * HS, accumulate: true)
        dx.update(from: scratch.dmid.pointer, count: T * C)
        rmsnormBackward(dx, scratch.dnorm.pointer, acts.input.pointer, w.attnNorm.pointer, acts.rstd1.pointer, T, C)
    }

    // MARK: Edited weights

    func downProjection(layer: Int) -> ScalarBuffer<S> { blocks[layer].wDown }

    func replaceDownProjection(layer: Int, _ weight: ScalarBuffer<S>) { blocks[layer].wDown = weight }
}
