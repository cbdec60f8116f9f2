// GPT-2: LayerNorm, learned absolute positions, multi-head attention (c_attn already split into
// q/k/v by the loader), tanh-approximation GELU MLP, biases everywhere.
// h = x + attn(ln_1(x)); out = h + c_proj(gelu(c_fc(ln_2(h)))). Conv1D weights arrive transposed
// to out × in like every other matrix. The shared runtime drives these kernels.
import Tensors

/// A GPT-2-architecture model computing in `S` (Float, or Double for gradient checks).
public final class GPT2Model<S: RuntimeScalar>: DecoderStack {
    public let configuration: ModelConfiguration
    public let eosTokenID: Int?

    struct Block {
        let ln1w: ScalarBuffer<S>, ln1b: ScalarBuffer<S>    // (C)
        let wq: ScalarBuffer<S>, bq: ScalarBuffer<S>        // (C, C), (C)
        let wk: ScalarBuffer<S>, bk: ScalarBuffer<S>
        let wv: ScalarBuffer<S>, bv: ScalarBuffer<S>
        let wo: ScalarBuffer<S>, bo: ScalarBuffer<S>        // (C, C), (C)
        let ln2w: ScalarBuffer<S>, ln2b: ScalarBuffer<S>    // (C)
        let wfc: ScalarBuffer<S>, bfc: ScalarBuffer<S>      // (F, C), (F)
        var wproj: ScalarBuffer<S>                          // (C, F), replaceable by an edit
        let bproj: ScalarBuffer<S>                          // (C)
    }

    var blocks: [Block]
    let embedding: ScalarBuffer<S>      // (V, C)
    let positionEmbedding: ScalarBuffer<S>  // (P, C)
    let lnfw: ScalarBuffer<S>, lnfb: ScalarBuffer<S>  // (C)
    let head: ScalarBuffer<S>           // (V, C)

    /// Builds the model from canonical weights (see `WeightSource`).
    /// - Throws: `ModelError` when a tensor is missing or has the wrong shape.
    public init(configuration: ModelConfiguration, weights: some WeightSource, eosTokenID: Int? = nil) throws {
        precondition(configuration.architecture == .gpt2, "GPT2Model needs a gpt2 configuration")
        let C = configuration.hiddenSize, F = configuration.intermediateSize, V = configuration.vocabularySize
        self.configuration = configuration
        self.eosTokenID = eosTokenID
        embedding = try weights.required("token_embd.weight", shape: [V, C])
        positionEmbedding = try weights.required("position_embd.weight", shape: [configuration.contextLength, C])
        lnfw = try weights.required("output_norm.weight", shape: [C])
        lnfb = try weights.required("output_norm.bias", shape: [C])
        head = configuration.tiedEmbeddings ? embedding : try weights.required("output.weight", shape: [V, C])
        blocks = try (0..<configuration.layerCount).map { l in
            let p = "blk.\(l)."
            return Block(
                ln1w: try weights.required(p + "attn_norm.weight", shape: [C]),
                ln1b: try weights.required(p + "attn_norm.bias", shape: [C]),
                wq: try weights.required(p + "attn_q.weight", shape: [C, C]),
                bq: try weights.required(p + "attn_q.bias", shape: [C]),
                wk: try weights.required(p + "attn_k.weight", shape: [C, C]),
                bk: try weights.required(p + "attn_k.bias", shape: [C]),
                wv: try weights.required(p + "attn_v.weight", shape: [C, C]),
                bv: try weights.required(p + "attn_v.bias", shape: [C]),
                wo: try weights.required(p + "attn_output.weight", shape: [C, C]),
                bo: try weights.required(p + "attn_output.bias", shape: [C]),
                ln2w: try weights.required(p + "ffn_norm.weight", shape: [C]),
                ln2b: try weights.required(p + "ffn_norm.bias", shape: [C]),
                wfc: try weights.required(p + "ffn_up.weight", shape: [F, C]),
                bfc: try weights.required(p + "ffn_up.bias", shape: [F]),
                wproj: try weights.required(p + "ffn_down.weight", shape: [C, F]),
                bproj: try weights.required(p + "ffn_down.bias", shape: [C]))
        }
    }

    private var eps: S { S(configuration.normEpsilon) }

    // MARK: Embedding and final norm

    @_specialize(where S == Float)
    func embedForward(_ x: UnsafeMutablePointer<S>, _ context: ForwardContext<S>) {
        let C = configuration.hiddenSize
        for t in 0..<context.rows {
            residualForward(x + t * C, embedding.pointer + context.tokens[t] * C,
                            positionEmbedding.pointer + context.positions[t] * C, C)
        }
    }

    @_specialize(where S == Float)
    func finalNormForward(_ out: UnsafeMutablePointer<S>, _ mean: UnsafeMutablePointer<S>,
                          _ rstd: UnsafeMutablePointer<S>, _ inp: UnsafePointer<S>, _ R: Int) {
        layernormForward(out, mean, rstd, inp, lnfw.pointer, lnfb.pointer, R, configuration.hiddenSize, eps: eps)
    }

    @_specialize(where S == Float)
    func finalNormBackward(_ dinp: UnsafeMutablePointer<S>, _ dout: UnsafePointer<S>, _ inp: UnsafePointer<S>,
                           _ mean: UnsafePointer<S>, _ rstd: UnsafePointer<S>, _ R: Int) {
        layernormBackward(dinp, dout, inp, lnfw.pointer, mean, rstd, R, configuration.hiddenSize)
    }

    // MARK: Block

    @_specialize(where S == Float)
    func blockForward(layer: Int, _ x: UnsafeMutablePointer<S>, _ context: ForwardContext<S>,
                      _ acts: BlockActivations<S>) {
        let w = blocks[layer]
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize

        acts.input.pointer.update(from: x, count: T * C)
        layernormForward(acts.norm1.pointer, acts.mean1.pointer, acts.rstd1.pointer, x,
                         w.ln1w.pointer, w.ln1b.pointer, T, C, eps: eps)
        let k = acts.k.pointer, v = acts.v.pointer
        matmulForward(acts.q.pointer, acts.norm1.pointer, w.wq.pointer, w.bq.pointer, T, C, C)
        matmulForward(k, acts.norm1.pointer, w.wk.pointer, w.bk.pointer, T, C, C)
        matmulForward(v, acts.norm1.pointer, w.wv.pointer, w.bv.pointer, T, C, C)
        attentionSegmentsForward(acts, context, layer: layer, configuration: configuration)
        matmulForward(acts.proj.pointer, acts.attn.pointer, w.wo.pointer, w.bo.pointer, T, C, C)
        residualForward(acts.mid.pointer, x, acts.proj.pointer, T * C)
        // MLP
        layernormForward(acts.norm2.pointer, acts.mean2.pointer, acts.rstd2.pointer, acts.mid.pointer,
                         w.ln2w.pointer, w.ln2b.pointer, T, C, eps: eps)
        matmulForward(acts.ffnA.pointer, acts.norm2.pointer, w.wfc.pointer, w.bfc.pointer, T, C, F)
        geluForward(acts.key.pointer, acts.ffnA.pointer, T * F)
        matmulForward(acts.proj.pointer, acts.key.pointer, w.wproj.pointer, w.bproj.pointer, T, F, C)
        residualForward(x, acts.mid.pointer, acts.proj.pointer, T * C)
    }

    @_specialize(where S == Float)
    func blockBackward(layer: Int, _ dx: UnsafeMutablePointer<S>, _ context: ForwardContext<S>,
                       _ acts: BlockActivations<S>, _ scratch: BackwardScratch<S>) {
        let w = blocks[layer]
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize

        // out = mid + c_proj(gelu(c_fc(ln_2(mid))))
        matmulBackward(scratch.dkey.pointer, dx, w.wproj.pointer, T, F, C, accumulate: false)
        geluBackward(scratch.dA.pointer, scratch.dkey.pointer, acts.ffnA.pointer, T * F)
        matmulBackward(scratch.dnorm.pointer, scratch.dA.pointer, w.wfc.pointer, T, C, F, accumulate: false)
        scratch.dmid.pointer.update(from: dx, count: T * C)
        layernormBackward(scratch.dmid.pointer, scratch.dnorm.pointer, acts.mid.pointer, w.ln2w.pointer,
                          acts.mean2.pointer, acts.rstd2.pointer, T, C)
        // mid = input + c_proj(attn(ln_1(input)))
        matmulBackward(scratch.dattn.pointer, scratch.dmid.pointer, w.wo.pointer, T, C, C, accumulate: false)
        attentionSegmentsBackward(scratch, acts, context, layer: layer, configuration: configuration)
        matmulBackward(scratch.dnorm.pointer, scratch.dq.pointer, w.wq.pointer, T, C, C, accumulate: false)
        matmulBackward(scratch.dnorm.pointer, scratch.dk.pointer, w.wk.pointer, T, C, C, accumulate: true)
        matmulBackward(scratch.dnorm.pointer, scratch.dv.pointer, w.wv.pointer, T, C, C, accumulate: true)
        dx.update(from: scratch.dmid.pointer, count: T * C)
        layernormBackward(dx, scratch.dnorm.pointer, acts.input.pointer, w.ln1w.pointer,
                          acts.mean1.pointer, acts.rstd1.pointer, T, C)
    }

    // MARK: Edited weights

    func downProjection(layer: Int) -> ScalarBuffer<S> { blocks[layer].wproj }

    func replaceDownProjection(layer: Int, _ weight: ScalarBuffer<S>) { blocks[layer].wproj = weight }
}
