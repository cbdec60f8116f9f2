// GPT-J: one LayerNorm feeds attention and the MLP in parallel, out = x + attn(n) + fc_out(gelu(fc_in(n))),
// n = ln_1(x). Rotary positions on the first rotary_dim dimensions of each head only, in GPT-J's
// interleaved pairs (2i, 2i + 1); no biases on q/k/v/out, biases on fc_in, fc_out and the LM head.
// The interleaved pairs are moved to rotate-half order when the model is built (the same
// permutation of q and k rows leaves every score unchanged), so the shared RoPE kernels apply;
// the weight source keeps the file's layout, which is what an export writes back.
import Tensors

/// A GPT-J-architecture model computing in `S` (Float, or Double for gradient checks).
public final class GPTJModel<S: RuntimeScalar>: DecoderStack {
    public let configuration: ModelConfiguration
    public let eosTokenID: Int?

    struct Block {
        let ln1w: ScalarBuffer<S>, ln1b: ScalarBuffer<S>    // (C)
        let wq: ScalarBuffer<S>, wk: ScalarBuffer<S>        // (C, C), rotated rows in rotate-half order
        let wv: ScalarBuffer<S>, wo: ScalarBuffer<S>        // (C, C)
        let wfc: ScalarBuffer<S>, bfc: ScalarBuffer<S>      // (F, C), (F)
        var wproj: ScalarBuffer<S>                          // (C, F), replaceable by an edit
        let bproj: ScalarBuffer<S>                          // (C)
    }

    var blocks: [Block]
    let embedding: ScalarBuffer<S>                  // (V, C)
    let lnfw: ScalarBuffer<S>, lnfb: ScalarBuffer<S>  // (C)
    let head: ScalarBuffer<S>                       // (V, C)
    let headBias: ScalarBuffer<S>?                  // (V)

    /// Builds the model from canonical weights in the file's layout (interleaved rotary rows).
    /// - Throws: `ModelError` when a tensor is missing or has the wrong shape.
    public init(configuration: ModelConfiguration, weights: some WeightSource, eosTokenID: Int? = nil) throws {
        precondition(configuration.architecture == .gptj, "GPTJModel needs a gptj configuration")
        let C = configuration.hiddenSize, F = configuration.intermediateSize, V = configuration.vocabularySize
        self.configuration = configuration
        self.eosTokenID = eosTokenID
        embedding = try weights.required("token_embd.weight", shape: [V, C])
        lnfw = try weights.required("output_norm.weight", shape: [C])
        lnfb = try weights.required("output_norm.bias", shape: [C])
        head = configuration.tiedEmbeddings ? embedding : try weights.required("output.weight", shape: [V, C])
        headBias = try weights.optional("output.bias", shape: [V])
        let heads = configuration.headCount, HS = configuration.headDimension, R = configuration.rotatedDimensions
        blocks = try (0..<configuration.layerCount).map { l in
            let p = "blk.\(l)."
            return Block(
                ln1w: try weights.required(p + "attn_norm.weight", shape: [C]),
                ln1b: try weights.required(p + "attn_norm.bias", shape: [C]),
                wq: interleavedToHalfRotation(try weights.required(p + "attn_q.weight", shape: [C, C]),
                                              heads: heads, headSize: HS, rotated: R, cols: C),
                wk: interleavedToHalfRotation(try weights.required(p + "attn_k.weight", shape: [C, C]),
                                              heads: heads, headSize: HS, rotated: R, cols: C),
                wv: try weights.required(p + "attn_v.weight", shape: [C, C]),
                wo: try weights.required(p + "attn_output.weight", shape: [C, C]),
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
        for (t, token) in context.tokens.enumerated() {
            (x + t * C).update(from: embedding.pointer + token * C, count: C)
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
        let NH = configuration.headCount, HS = configuration.headDimension, R = configuration.rotatedDimensions
        let rope = context.ropeTables(configuration)

        acts.input.pointer.update(from: x, count: T * C)
        layernormForward(acts.norm1.pointer, acts.mean1.pointer, acts.rstd1.pointer, x,
                         w.ln1w.pointer, w.ln1b.pointer, T, C, eps: eps)
        matmulForward(acts.q.pointer, acts.norm1.pointer, w.wq.pointer, nil, T, C, C)
        matmulForward(acts.k.pointer, acts.norm1.pointer, w.wk.pointer, nil, T, C, C)
        matmulForward(acts.v.pointer, acts.norm1.pointer, w.wv.pointer, nil, T, C, C)
        ropeForward(acts.q.pointer, rope.cos.pointer, rope.sin.pointer, T, NH, HS, rotated: R)
        ropeForward(acts.k.pointer, rope.cos.pointer, rope.sin.pointer, T, NH, HS, rotated: R)
        attentionSegmentsForward(acts, context, layer: layer, configuration: configuration)
        matmulForward(acts.proj.pointer, acts.attn.pointer, w.wo.pointer, nil, T, C, C)
        residualForward(acts.mid.pointer, x, acts.proj.pointer, T * C)  // x + attn, the MLP is added next
        // MLP on the same normed input
        matmulForward(acts.ffnA.pointer, acts.norm1.pointer, w.wfc.pointer, w.bfc.pointer, T, C, F)
        geluForward(acts.key.pointer, acts.ffnA.pointer, T * F)
        matmulForward(acts.proj.pointer, acts.key.pointer, w.wproj.pointer, w.bproj.pointer, T, F, C)
        residualForward(x, acts.mid.pointer, acts.proj.pointer, T * C)
    }

    @_specialize(where S == Float)
    func blockBackward(layer: Int, _ dx: UnsafeMutablePointer<S>, _ context: ForwardContext<S>,
                       _ acts: BlockActivations<S>, _ scratch: BackwardScratch<S>) {
        let w = blocks[layer]
        let T = context.rows, C = configuration.hiddenSize, F = configuration.intermediateSize
        let NH = configuration.headCount, HS = configuration.headDimension, R = configuration.rotatedDimensions
        let rope = context.ropeTables(configuration)

        // out = input + attn(n) + fc_out(gelu(fc_in(n))), n = ln_1(input): both branches reach n.
        matmulBackward(scratch.dkey.pointer, dx, w.wproj.pointer, T, F, C, accumulate: false)
        geluBackward(scratch.dA.pointer, scratch.dkey.pointer, acts.ffnA.pointer, T * F)
        matmulBackward(scratch.dnorm.pointer, scratch.dA.pointer, w.wfc.pointer, T, C, F, accumulate: false)
        matmulBackward(scratch.dattn.pointer, dx, w.wo.pointer, T, C, C, accumulate: false)
        attentionSegmentsBackward(scratch, acts, context, layer: layer, configuration: configuration)
        ropeBackward(scratch.dq.pointer, rope.cos.pointer, rope.sin.pointer, T, NH, HS, rotated: R)
        ropeBackward(scratch.dk.pointer, rope.cos.pointer, rope.sin.pointer, T, NH, HS, rotated: R)
        matmulBackward(scratch.dnorm.pointer, scratch.dq.pointer, w.wq.pointer, T, C, C, accumulate: true)
        matmulBackward(scratch.dnorm.pointer, scratch.dk.pointer, w.wk.pointer, T, C, C, accumulate: true)
        matmulBackward(scratch.dnorm.pointer, scratch.dv.pointer, w.wv.pointer, T, C, C, accumulate: true)
        // the residual passes dx through unchanged; the norm's gradient is added to it
        layernormBackward(dx, scratch.dnorm.pointer, acts.input.pointer, w.ln1w.pointer,
                          acts.mean1.pointer, acts.rstd1.pointer, T, C)
    }

    // MARK: Edited weights

    func downProjection(layer: Int) -> ScalarBuffer<S> { blocks[layer].wproj }

    func replaceDownProjection(layer: Int, _ weight: ScalarBuffer<S>) { blocks[layer].wproj = weight }
}

/// A (heads·HS, cols) projection with each head's first R rows moved from interleaved pairs to
/// rotate-half order: row 2i + j of a head becomes row j·R/2 + i; rows R… stay.
func interleavedToHalfRotation<S: RuntimeScalar>(_ weight: ScalarBuffer<S>, heads: Int, headSize HS: Int,
                                                 rotated R: Int, cols: Int) -> ScalarBuffer<S> {
    let out = ScalarBuffer<S>(count: heads * HS * cols)
    out.pointer.update(from: weight.pointer, count: heads * HS * cols)
    let half = R / 2
    for h in 0..<heads {
        for i in 0..<half {
            for j in 0..<2 {
                (out.pointer + (h * HS + j * half + i) * cols).update(from: weight.pointer + (h * HS + 2 * i + j) * cols, count: cols)
            }
        }
    }
    return out
}

extension GPTJModel: TransformerModel {
    public func mlpOutputWeight(layer: Int) -> Matrix<Float> { runtimeMLPOutputWeight(layer: layer) }
    public func setMLPOutputWeight(layer: Int, _ weight: Matrix<Float>) { runtimeSetMLPOutputWeight(layer: layer, weight) }
    public func keys(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        runtimeKeys(prompts: prompts, positions: positions, layer: layer)
    }
    public func keysAtAllPositions(prompts: [[Int]], layers: [Int]) -> [Int: Matrix<Float>] {
        runtimeKeysAtAllPositions(prompts: prompts, layers: layers)
    }
    public func residuals(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        runtimeResiduals(prompts: prompts, positions: positions, layer: layer)
    }
    public func editValues(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        runtimeEditValues(prompts: prompts, positions: positions, layer: layer)
    }
    public func logProbabilities(prompts: [[Int]], positions: [Int]) -> Matrix<Float> {
        runtimeLogProbabilities(prompts: prompts, positions: positions)
    }
    public func logProbabilities(prompts: [[Int]], positionsPerPrompt: [[Int]]) -> Matrix<Float> {
        runtimeLogProbabilities(prompts: prompts, positionsPerPrompt: positionsPerPrompt)
    }
    public func deltaSession(prompts: [[Int]], deltaPositions: [Int], layer: Int) -> DeltaSession {
        RuntimeDeltaSession(model: self, prompts: prompts, deltaPositions: deltaPositions, layer: layer)
    }
    public func logits(prompts: [[Int]], positions: [Int]) -> Matrix<Float> {
        runtimeLogits(prompts: prompts, positions: positions)
    }
    public func logits(prompt: [Int]) -> Matrix<Float> { runtimeLogits(prompt: prompt) }
    public func hiddenStates(prompt: [Int]) -> HiddenStates { runtimeHiddenStates(prompt: prompt) }
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions) -> Generation {
        runtimeGenerate(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling)
    }
    public func extend(prompts: [[Int]], budgets: [Int], choose: (Int, [Float]) -> Int) -> [[Int]] {
        runtimeExtend(prompts: prompts, budgets: budgets, choose: choose)
    }
    public func residualStream(prompts: [[Int]]) -> ResidualStream {
        RuntimeResidualStream(model: self, prompts: prompts)
    }
}

// MARK: - Configuration and naming

extension ModelConfiguration {
    /// A GPT-J config.json (`model_type: "gptj"`).
    init(gptj config: HuggingFaceConfig, file: String) throws {
        func integer(_ key: String, default fallback: Int? = nil) throws -> Int {
            guard let v = config.values[key] else {
                if let fallback { return fallback }
                throw ModelError.missingKey(file: file, key: key)
            }
            guard let i = Int(exactly: v) else {
                throw ModelError.invalidValue(file: file, key: key, reason: "expected an integer, found \(v)")
            }
            return i
        }
        let activation = config.strings["activation_function"] ?? "gelu_new"
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
            throw ModelError.unsupportedFeature(file: file, feature: "activation_function '\(activation)' (tanh-approximation GELU only)")
        }
        let hidden = try integer("n_embd")
        let heads = try integer("n_head")
        guard config.values["rotary_dim"] != nil else {
            throw ModelError.unsupportedFeature(file: file, feature: "GPT-J without rotary_dim (rotary embedding over the whole width)")
        }
        let rotary = try integer("rotary_dim")
        self.init(architecture: .gptj, layerCount: try integer("n_layer"), hiddenSize: hidden,
                  intermediateSize: try integer("n_inner", default: 4 * hidden), headCount: heads, keyValueHeadCount: heads,
                  vocabularySize: try integer("vocab_size"), contextLength: try integer("n_positions"),
                  normEpsilon: Float(config.values["layer_norm_epsilon"] ?? 1e-5),
                  tiedEmbeddings: config.flags["tie_word_embeddings"] ?? false,
                  rotaryDimension: rotary)
        guard hidden % heads == 0, rotary > 0, rotary % 2 == 0, rotary <= headDimension else {
            throw ModelError.invalidValue(file: file, key: "rotary_dim",
                                          reason: "must be even, positive and at most the head size \(hidden / max(heads, 1)), found \(rotary)")
        }
    }
}

extension TensorNaming {
    static let gptjBlock: [(hf: String, canonical: String)] = [
        ("ln_1.weight", "attn_norm.weight"), ("ln_1.bias", "attn_norm.bias"),
        ("attn.q_proj.weight", "attn_q.weight"), ("attn.k_proj.weight", "attn_k.weight"),
        ("attn.v_proj.weight", "attn_v.weight"), ("attn.out_proj.weight", "attn_output.weight"),
        ("mlp.fc_in.weight", "ffn_up.weight"), ("mlp.fc_in.bias", "ffn_up.bias"),
        ("mlp.fc_out.weight", "ffn_down.weight"), ("mlp.fc_out.bias", "ffn_down.bias"),
    ]
    static let gptjGlobal: [(hf: String, canonical: String)] = [
        ("transformer.wte.weight", "token_embd.weight"),
        ("transformer.ln_f.weight", "output_norm.weight"), ("transformer.ln_f.bias", "output_norm.bias"),
        ("lm_head.weight", "output.weight"), ("lm_head.bias", "output.bias"),
    ]
}
