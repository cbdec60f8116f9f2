// What Gemma-3 adds to the common ModelConfiguration (head size independent of d_model, sliding
// windows, two RoPE bases, query scaling), read from a GGUF file's gemma3.* keys or a Hugging Face
// `gemma3_text` config.json. Features the runtime does not implement exactly (logit soft-capping,
// RoPE scaling, bidirectional attention, attention biases, other activations) are refused here with
// one-line errors that name them, so nothing is silently approximated.
import Checkpoints

/// The Gemma-3 specifics of a configuration (`ModelConfiguration.gemma3`).
public struct Gemma3Settings: Codable, Sendable, Equatable {
    /// head_dim: Q/K/V head size, not d_model / heads (256 for every Gemma-3 size).
    public var headDimension: Int
    /// Keys a sliding-window layer sees: query at position p attends positions p − window + 1 … p.
    public var slidingWindow: Int
    /// Per layer: true for a sliding-window (local) layer, false for a global one.
    public var slidingLayers: [Bool]
    /// RoPE base of the sliding-window layers (the global layers use `ModelConfiguration.ropeTheta`).
    public var localRopeTheta: Float
    /// Attention scores are scaled by query_pre_attn_scalar^(-1/2), not head_dim^(-1/2).
    public var queryPreAttentionScalar: Float

    enum CodingKeys: String, CodingKey {
        case headDimension = "head_dim"
        case slidingWindow = "sliding_window"
        case slidingLayers = "sliding_layers"
        case localRopeTheta = "local_rope_theta"
        case queryPreAttentionScalar = "query_pre_attn_scalar"
    }

    public init(headDimension: Int, slidingWindow: Int, slidingLayers: [Bool], localRopeTheta: Float,
                queryPreAttentionScalar: Float) {
        self.headDimension = headDimension
        self.slidingWindow = slidingWindow
        self.slidingLayers = slidingLayers
        self.localRopeTheta = localRopeTheta
        self.queryPreAttentionScalar = queryPreAttentionScalar
    }

    /// Gemma-3's fixed layout: every `pattern`-th layer (1-based) is global, the others slide.
    public static func slidingLayers(count: Int, pattern: Int) -> [Bool] {
        (0..<count).map { ($0 + 1) % pattern != 0 }
    }

    func validate(file: String, layerCount: Int) throws {
        if headDimension <= 0 || headDimension % 2 != 0 {
            throw ModelError.invalidValue(file: file, key: "head_dim", reason: "RoPE needs an even positive head size, found \(headDimension)")
        }
        if slidingWindow <= 0 {
            throw ModelError.invalidValue(file: file, key: "sliding_window", reason: "must be positive, found \(slidingWindow)")
        }
        if slidingLayers.count != layerCount {
            throw ModelError.invalidValue(file: file, key: "layer_types", reason: "\(slidingLayers.count) entries for \(layerCount) layers")
        }
        for (key, value) in [("rope_local_base_freq", localRopeTheta), ("query_pre_attn_scalar", queryPreAttentionScalar)]
        where !(value > 0) || !value.isFinite {
            throw ModelError.invalidValue(file: file, key: key, reason: "must be positive and finite, found \(value)")
        }
    }
}

// MARK: - GGUF

extension ModelConfiguration {
    /// llama.cpp's Gemma-3 constants, which its converter does not write to the file: every 6th
    /// layer is global and the sliding layers use RoPE base 10,000 (llama-model.cpp, LLM_ARCH_GEMMA3).
    static let gemma3DefaultPattern = 6
    static let gemma3DefaultLocalTheta: Float = 10_000

    /// A Gemma-3 configuration from the gemma3.* keys of a GGUF file.
    /// - Throws: `ModelError` naming the key that is missing or invalid, or the feature refused.
    static func gemma3(gguf file: GGUFFile) throws -> ModelConfiguration {
        let name = file.url.lastPathComponent
        let p = "gemma3."
        func integer(_ key: String, default fallback: Int? = nil) throws -> Int {
            guard let value = file.value(forKey: p + key) else {
                if let fallback { return fallback }
                throw ModelError.missingKey(file: name, key: p + key)
            }
            guard let v = value.integer else {
                throw ModelError.invalidValue(file: name, key: p + key, reason: "expected an integer, found \(value.type.name)")
            }
            return v
        }
        func real(_ key: String, default fallback: Double? = nil) throws -> Double {
            guard let value = file.value(forKey: p + key) else {
                if let fallback { return fallback }
                throw ModelError.missingKey(file: name, key: p + key)
            }
            guard let v = value.double else {
                throw ModelError.invalidValue(file: name, key: p + key, reason: "expected a number, found \(value.type.name)")
            }
            return v
        }
        for key in ["final_logit_softcapping", "attn_logit_softcapping"] where file.value(forKey: p + key) != nil {
            throw ModelError.unsupportedFeature(file: name, feature: "Gemma-3 \(key.replacingOccurrences(of: "_", with: " ")) (\(p)\(key))")
        }
        if let scaling = file.value(forKey: p + "rope.scaling.type")?.string, scaling != "none" {
            throw ModelError.unsupportedFeature(file: name, feature: "RoPE scaling '\(scaling)' (\(p)rope.scaling.type)")
        }
        let heads = try integer("attention.head_count")
        let layers = try integer("block_count")
        let headSize = try integer("attention.key_length")
        let valueSize = try integer("attention.value_length", default: headSize)
        if valueSize != headSize {
            throw ModelError.unsupportedFeature(file: name, feature: "value head size \(valueSize) ≠ key head size \(headSize)")
        }
        let rotated = try integer("rope.dimension_count", default: headSize)
        if rotated != headSize {
            throw ModelError.unsupportedFeature(file: name, feature: "partial rotary embedding (\(p)rope.dimension_count \(rotated), head size \(headSize))")
        }
        // Newer converters may record the layout; a bool per layer (true = sliding) or a period.
        var sliding = Gemma3Settings.slidingLayers(count: layers, pattern: gemma3DefaultPattern)
        if let pattern = file.value(forKey: p + "attention.sliding_window_pattern") {
            if let period = pattern.integer, period > 0 {
                sliding = Gemma3Settings.slidingLayers(count: layers, pattern: period)
            } else if let flags = pattern.array?.compactMap({ element -> Bool? in
                if case let .bool(flag) = element { return flag }
                return nil
            }), flags.count == pattern.array?.count {
                sliding = flags
            } else {
                throw ModelError.invalidValue(file: name, key: p + "attention.sliding_window_pattern", reason: "expected a period or one bool per layer")
            }
        }
        guard let vocabulary = file.value(forKey: p + "vocab_size")?.integer
                ?? file.value(forKey: "tokenizer.ggml.tokens")?.array?.count
                ?? file.tensor(named: "token_embd.weight")?.shape.first else {
            throw ModelError.missingKey(file: name, key: p + "vocab_size")
        }
        if file.tensor(named: "blk.0.attn_q.bias") != nil {
            throw ModelError.unsupportedFeature(file: name, feature: "Gemma-3 attention biases (blk.0.attn_q.bias)")
        }
        var configuration = ModelConfiguration(
            architecture: .gemma3, layerCount: layers, hiddenSize: try integer("embedding_length"),
            intermediateSize: try integer("feed_forward_length"), headCount: heads,
            keyValueHeadCount: try integer("attention.head_count_kv", default: heads), vocabularySize: vocabulary,
            contextLength: try integer("context_length"),
            normEpsilon: Float(try real("attention.layer_norm_rms_epsilon")),
            ropeTheta: Float(try real("rope.freq_base", default: 1_000_000)),
            tiedEmbeddings: file.tensor(named: "output.weight") == nil)
        // llama.cpp scales queries by 1/√head_dim for every Gemma-3 size but 27B, whose
        // query_pre_attn_scalar is d_model / heads; the file does not say which, so use the rule.
        configuration.gemma3 = Gemma3Settings(
            headDimension: headSize, slidingWindow: try integer("attention.sliding_window"), slidingLayers: sliding,
            localRopeTheta: Float(try real("rope.freq_base_swa", default: Double(gemma3DefaultLocalTheta))),
            queryPreAttentionScalar: Float(headSize))
        return configuration
    }
}

// MARK: - Hugging Face

/// The config.json fields of `gemma3_text` beyond those `HuggingFaceConfig` reads for every model.
public struct Gemma3HuggingFaceFields: Decodable, Sendable {
    public var layerTypes: [String]?
    public var slidingWindowPattern: Int?
    public var queryPreAttnScalar: Double?
    public var slidingWindow: Int?
    public var hiddenActivation: String?
    public var finalLogitSoftcapping: Double?
    public var attnLogitSoftcapping: Double?
    public var useBidirectionalAttention: Bool?
    public var ropeLocalBaseFreq: Double?
    /// `rope_parameters` keyed by layer type ("full_attention", "sliding_attention").
    public var ropeParameters: [String: RopeParameters]?
    /// Older configs: one `rope_scaling` for the global layers.
    public var ropeScaling: RopeParameters?

    public struct RopeParameters: Decodable, Sendable {
        public var ropeType: String?
        public var ropeTheta: Double?
        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type"
            case ropeTheta = "rope_theta"
        }
    }

    enum CodingKeys: String, CodingKey {
        case layerTypes = "layer_types"
        case slidingWindowPattern = "sliding_window_pattern"
        case queryPreAttnScalar = "query_pre_attn_scalar"
        case slidingWindow = "sliding_window"
        case hiddenActivation = "hidden_activation"
        case finalLogitSoftcapping = "final_logit_softcapping"
        case attnLogitSoftcapping = "attn_logit_softcapping"
        case useBidirectionalAttention = "use_bidirectional_attention"
        case ropeLocalBaseFreq = "rope_local_base_freq"
        case ropeParameters = "rope_parameters"
        case ropeScaling = "rope_scaling"
    }
}

extension ModelConfiguration {
    /// A Gemma-3 configuration from a `gemma3_text` config.json, with transformers' defaults for
    /// absent keys (Gemma3TextConfig).
    /// - Throws: `ModelError` naming the key that is missing, invalid or refused.
    static func gemma3(huggingFace config: HuggingFaceConfig, file: String) throws -> ModelConfiguration {
        guard let fields = config.gemma3 else { throw ModelError.missingKey(file: file, key: "model_type") }
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
        let activation = fields.hiddenActivation ?? "gelu_pytorch_tanh"
        guard activation == "gelu_pytorch_tanh" else {
            throw ModelError.unsupportedFeature(file: file, feature: "hidden_activation '\(activation)' (GeGLU with gelu_pytorch_tanh only)")
        }
        if let cap = fields.finalLogitSoftcapping {
            throw ModelError.unsupportedFeature(file: file, feature: "final_logit_softcapping \(cap)")
        }
        if let cap = fields.attnLogitSoftcapping {
            throw ModelError.unsupportedFeature(file: file, feature: "attn_logit_softcapping \(cap)")
        }
        if fields.useBidirectionalAttention == true {
            throw ModelError.unsupportedFeature(file: file, feature: "use_bidirectional_attention")
        }
        if config.flags["attention_bias"] == true { throw ModelError.unsupportedFeature(file: file, feature: "attention_bias") }
        if let type = fields.ropeScaling?.ropeType, type != "default" {
            throw ModelError.unsupportedFeature(file: file, feature: "rope_scaling '\(type)'")
        }
        for (kind, parameters) in fields.ropeParameters ?? [:] where (parameters.ropeType ?? "default") != "default" {
            throw ModelError.unsupportedFeature(file: file, feature: "RoPE type '\(parameters.ropeType ?? "")' of \(kind) layers")
        }
        let layers = try integer("num_hidden_layers")
        var sliding = Gemma3Settings.slidingLayers(count: layers, pattern: fields.slidingWindowPattern ?? 6)
        if let types = fields.layerTypes {
            sliding = try types.map { type in
                switch type {
                case "sliding_attention": return true
                case "full_attention": return false
                default: throw ModelError.unsupportedFeature(file: file, feature: "layer type '\(type)'")
                }
            }
        }
        let heads = try integer("num_attention_heads")
        let globalTheta = fields.ropeParameters?["full_attention"]?.ropeTheta ?? config.values["rope_theta"] ?? 1_000_000
        let localTheta = fields.ropeParameters?["sliding_attention"]?.ropeTheta ?? fields.ropeLocalBaseFreq ?? 10_000
        var configuration = ModelConfiguration(
            architecture: .gemma3, layerCount: layers, hiddenSize: try integer("hidden_size"),
            intermediateSize: try integer("intermediate_size"), headCount: heads,
            keyValueHeadCount: try integer("num_key_value_heads", default: heads),
            vocabularySize: try integer("vocab_size"), contextLength: try integer("max_position_embeddings"),
            normEpsilon: Float(config.values["rms_norm_eps"] ?? 1e-6), ropeTheta: Float(globalTheta),
            tiedEmbeddings: config.flags["tie_word_embeddings"] ?? true)
        configuration.gemma3 = Gemma3Settings(
            headDimension: try integer("head_dim", default: 256), slidingWindow: fields.slidingWindow ?? 4096,
            slidingLayers: sliding, localRopeTheta: Float(localTheta),
            queryPreAttentionScalar: Float(fields.queryPreAttnScalar ?? 256))
        return configuration
    }
}
