// Gemma3Model's TransformerModel conformance (forwarding to the shared runtime, as LlamaModel's
// and GPT2Model's do) and the config.json a Hugging Face export of a Gemma-3 model carries.
import Tensors

extension Gemma3Model: TransformerModel {
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

extension CheckpointExport {
    /// `config.json` of a `gemma3_text` model (Gemma3ForCausalLM), written as transformers does.
    static func gemma3ConfigJSON(_ c: ModelConfiguration, torchDType: String, bos: ExportJSON, eos: ExportJSON,
                                 pad: ExportJSON) -> ExportJSON {
        let g = c.gemma3 ?? Gemma3Settings(headDimension: c.headDimension, slidingWindow: c.contextLength,
                                           slidingLayers: Array(repeating: false, count: c.layerCount),
                                           localRopeTheta: c.ropeTheta, queryPreAttentionScalar: Float(c.headDimension))
        let layerTypes = g.slidingLayers.map { ExportJSON.string($0 ? "sliding_attention" : "full_attention") }
        return .object([
            ("architectures", .array([.string("Gemma3ForCausalLM")])),
            ("attention_bias", .bool(false)), ("attention_dropout", .float(0)), ("attn_logit_softcapping", .null),
            ("bos_token_id", bos), ("eos_token_id", eos), ("final_logit_softcapping", .null),
            ("head_dim", .integer(g.headDimension)), ("hidden_activation", .string("gelu_pytorch_tanh")),
            ("hidden_size", .integer(c.hiddenSize)), ("intermediate_size", .integer(c.intermediateSize)),
            ("layer_types", .array(layerTypes)), ("max_position_embeddings", .integer(c.contextLength)),
            ("model_type", .string("gemma3_text")), ("num_attention_heads", .integer(c.headCount)),
            ("num_hidden_layers", .integer(c.layerCount)), ("num_key_value_heads", .integer(c.keyValueHeadCount)),
            ("pad_token_id", pad), ("query_pre_attn_scalar", g.queryPreAttentionScalar.rounded() == g.queryPreAttentionScalar
                ? .integer(Int(g.queryPreAttentionScalar)) : .float(g.queryPreAttentionScalar)),  // transformers wants an int
            ("rms_norm_eps", .float(c.normEpsilon)),
            ("rope_parameters", .object([
                ("full_attention", .object([("rope_theta", .float(c.ropeTheta)), ("rope_type", .string("default"))])),
                ("sliding_attention", .object([("rope_theta", .float(g.localRopeTheta)), ("rope_type", .string("default"))])),
            ])),
            ("sliding_window", .integer(g.slidingWindow)), ("tie_word_embeddings", .bool(c.tiedEmbeddings)),
            ("torch_dtype", .string(torchDType)), ("use_bidirectional_attention", .bool(false)),
            ("use_cache", .bool(true)), ("vocab_size", .integer(c.vocabularySize)),
        ])
    }
}
