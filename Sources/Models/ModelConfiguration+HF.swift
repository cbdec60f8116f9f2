// ModelConfiguration from a Hugging Face config.json (GPT-2; Llama, Mistral, Qwen2 and Phi-3, which
// share the Llama architecture; GPT-J in GPTJModel.swift). Numbers are decoded as Double first and
// then checked to be integral, since JSON writers are free to write 64 as 64.0. Settings the runtime
// does not implement (RoPE types other than default and llama3, partial rotary on the Llama path,
// per-layer windows, other activations, MLP biases) are rejected, not ignored.
import Foundation

/// The fields of a Hugging Face `config.json` that mledit reads.
public struct HuggingFaceConfig: Decodable, Sendable {
    public var modelType: String
    public var values: [String: Double]
    public var strings: [String: String]
    public var flags: [String: Bool]
    /// `eos_token_id`: one id or the first of a list.
    public var eosTokenID: Int?
    /// `rope_parameters` / `rope_scaling` as found (type and θ).
    public var ropeType: String?
    public var ropeParameterTheta: Double?
    /// The numeric members of `rope_parameters` / `rope_scaling` (factor, low_freq_factor, …).
    public var ropeNumbers: [String: Double] = [:]
    /// `layer_types` (per-layer attention kinds), when given.
    public var layerTypes: [String]?
    /// The `gemma3_text` fields (Gemma3Configuration.swift), nil for other model types.
    public var gemma3: Gemma3HuggingFaceFields?

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private static let numberKeys = [
        "n_embd", "n_layer", "n_head", "n_inner", "n_positions", "n_ctx", "layer_norm_epsilon", "vocab_size",
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "head_dim", "rms_norm_eps", "rope_theta", "max_position_embeddings",
        "sliding_window", "rotary_dim", "partial_rotary_factor",
    ]
    private static let stringKeys = ["activation_function", "hidden_act"]
    private static let flagKeys = ["tie_word_embeddings", "attention_bias", "mlp_bias", "scale_attn_weights",
                                   "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn",
                                   "use_sliding_window"]

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        modelType = try container.decode(String.self, forKey: AnyKey(stringValue: "model_type"))
        values = [:]
        for key in Self.numberKeys {
            if let v = try container.decodeIfPresent(Double.self, forKey: AnyKey(stringValue: key)) { values[key] = v }
        }
        strings = [:]
        for key in Self.stringKeys {
            if let v = try container.decodeIfPresent(String.self, forKey: AnyKey(stringValue: key)) { strings[key] = v }
        }
        flags = [:]
        for key in Self.flagKeys {
            if let v = try container.decodeIfPresent(Bool.self, forKey: AnyKey(stringValue: key)) { flags[key] = v }
        }
        let eosKey = AnyKey(stringValue: "eos_token_id")
        if let single = try? container.decodeIfPresent(Double.self, forKey: eosKey) {
            eosTokenID = Int(exactly: single)
        } else if let list = try? container.decodeIfPresent([Double].self, forKey: eosKey) {
            eosTokenID = list.first.flatMap { Int(exactly: $0) }
        }
        if modelType == "gemma3_text" {
            gemma3 = try Gemma3HuggingFaceFields(from: decoder)
            return
        }
        for key in ["rope_parameters", "rope_scaling"] {
            let k = AnyKey(stringValue: key)
            guard (try? container.decodeNil(forKey: k)) == false else { continue }
            let rope = try container.nestedContainer(keyedBy: AnyKey.self, forKey: k)
            let type = try rope.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "rope_type"))
                ?? rope.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "type"))
            if let type, ropeType == nil || ropeType == "default" { ropeType = type }
            if let theta = try rope.decodeIfPresent(Double.self, forKey: AnyKey(stringValue: "rope_theta")) {
                ropeParameterTheta = theta
            }
            for member in rope.allKeys {
                if let number = try? rope.decodeIfPresent(Double.self, forKey: member) { ropeNumbers[member.stringValue] = number }
            }
        }
        layerTypes = try? container.decodeIfPresent([String].self, forKey: AnyKey(stringValue: "layer_types"))
    }
}

extension ModelConfiguration {
    /// Reads a Hugging Face `config.json`.
    /// - Throws: `ModelError` naming the file and key that is missing, invalid or unsupported.
    public init(huggingFaceJSON data: Data, file: String) throws {
        let config: HuggingFaceConfig
        do {
            config = try JSONDecoder().decode(HuggingFaceConfig.self, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.keyNotFound(_, context), let DecodingError.dataCorrupted(context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ModelError.invalidValue(file: file, key: key.isEmpty ? "(root)" : key, reason: context.debugDescription)
        }
        try self.init(huggingFace: config, file: file)
    }

    /// Maps a decoded config to the runtime's configuration.
    /// - Throws: `ModelError` naming the key that is missing, invalid or unsupported.
    public init(huggingFace config: HuggingFaceConfig, file: String) throws {
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
        func real(_ key: String, default fallback: Double? = nil) throws -> Double {
            if let v = config.values[key] { return v }
            if let fallback { return fallback }
            throw ModelError.missingKey(file: file, key: key)
        }

        switch config.modelType {
        case "gpt2":
            let activation = config.strings["activation_function"] ?? "gelu_new"
            guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
                throw ModelError.unsupportedFeature(file: file, feature: "activation_function '\(activation)' (tanh-approximation GELU only)")
            }
            if config.flags["scale_attn_by_inverse_layer_idx"] == true || config.flags["scale_attn_weights"] == false {
                throw ModelError.unsupportedFeature(file: file, feature: "GPT-2 attention scaling other than 1/√head_size")
            }
            let hidden = try integer("n_embd")
            let heads = try integer("n_head")
            self.init(architecture: .gpt2, layerCount: try integer("n_layer"), hiddenSize: hidden,
                      intermediateSize: try integer("n_inner", default: 4 * hidden), headCount: heads,
                      keyValueHeadCount: heads, vocabularySize: try integer("vocab_size"),
                      contextLength: try integer("n_positions", default: integer("n_ctx", default: 1024)),
                      normEpsilon: Float(try real("layer_norm_epsilon", default: 1e-5)),
                      tiedEmbeddings: config.flags["tie_word_embeddings"] ?? true)
        case "llama", "mistral", "qwen2", "phi3":
            let activation = config.strings["hidden_act"] ?? "silu"
            guard activation == "silu" else {
                throw ModelError.unsupportedFeature(file: file, feature: "hidden_act '\(activation)' (SwiGLU with silu only)")
            }
            if config.flags["mlp_bias"] == true { throw ModelError.unsupportedFeature(file: file, feature: "mlp_bias") }
            if let factor = config.values["partial_rotary_factor"] ?? config.ropeNumbers["partial_rotary_factor"], factor != 1 {
                throw ModelError.unsupportedFeature(file: file, feature: "partial_rotary_factor \(factor) (full rotary embedding only)")
            }
            let hidden = try integer("hidden_size")
            let heads = try integer("num_attention_heads")
            let contextLength = try integer("max_position_embeddings")
            self.init(architecture: .llama, layerCount: try integer("num_hidden_layers"), hiddenSize: hidden,
                      intermediateSize: try integer("intermediate_size"), headCount: heads,
                      keyValueHeadCount: try integer("num_key_value_heads", default: heads),
                      vocabularySize: try integer("vocab_size"),
                      contextLength: contextLength,
                      normEpsilon: Float(try real("rms_norm_eps", default: 1e-6)),
                      ropeTheta: Float(try config.ropeParameterTheta ?? real("rope_theta", default: 10000)),
                      tiedEmbeddings: config.flags["tie_word_embeddings"] ?? false,
                      attentionBias: config.modelType == "qwen2" || config.flags["attention_bias"] == true,
                      ropeScaling: try Self.ropeScaling(config, file: file),
                      family: ModelFamily(rawValue: config.modelType))
            slidingWindow = try Self.slidingWindow(config, file: file, contextLength: contextLength)
            if let headDim = config.values["head_dim"], headDim != Double(headDimension) {
                throw ModelError.unsupportedFeature(file: file, feature: "head_dim \(headDim) ≠ hidden_size / num_attention_heads (\(headDimension))")
            }
        case "gptj":
            try self.init(gptj: config, file: file)
        case "gemma3_text":
            self = try Self.gemma3(huggingFace: config, file: file)
        default:
            throw ModelError.unsupportedArchitecture(file: file, name: config.modelType)
        }
        try validate(file: file)
    }
}

extension ModelConfiguration {
    /// The window of a Mistral or Phi-3 config (`sliding_window`; null or absent means none);
    /// Llama configs have none. Qwen2's per-layer windows (`use_sliding_window`) are refused.
    static func slidingWindow(_ config: HuggingFaceConfig, file: String, contextLength: Int) throws -> Int? {
        if config.modelType == "qwen2" {
            if config.flags["use_sliding_window"] == true || config.layerTypes?.contains("sliding_attention") == true {
                throw ModelError.unsupportedFeature(file: file, feature: "Qwen2 use_sliding_window (per-layer sliding-window attention)")
            }
            return nil
        }
        if let types = config.layerTypes, Set(types).count > 1 {
            throw ModelError.unsupportedFeature(file: file, feature: "layer_types mixing \(Set(types).sorted().joined(separator: " and "))")
        }
        guard config.modelType == "mistral" || config.modelType == "phi3", let value = config.values["sliding_window"] else { return nil }
        guard let window = Int(exactly: value), window > 0 else {
            throw ModelError.invalidValue(file: file, key: "sliding_window", reason: "expected a positive integer, found \(value)")
        }
        return window
    }

    /// Llama-3 scaling from `rope_parameters` / `rope_scaling`; other RoPE types are refused.
    static func ropeScaling(_ config: HuggingFaceConfig, file: String) throws -> RopeScaling? {
        guard let type = config.ropeType, type != "default" else { return nil }
        guard type == "llama3" else {
            throw ModelError.unsupportedFeature(file: file, feature: "RoPE type '\(type)' (default and llama3 only)")
        }
        func member(_ key: String) throws -> Double {
            guard let v = config.ropeNumbers[key] else { throw ModelError.missingKey(file: file, key: "rope_parameters.\(key)") }
            return v
        }
        let original = try member("original_max_position_embeddings")
        guard let originalContextLength = Int(exactly: original), originalContextLength > 0 else {
            throw ModelError.invalidValue(file: file, key: "rope_parameters.original_max_position_embeddings",
                                          reason: "expected a positive integer, found \(original)")
        }
        let scaling = Llama3RopeParameters(factor: try member("factor"), lowFrequencyFactor: try member("low_freq_factor"),
                                           highFrequencyFactor: try member("high_freq_factor"), originalContextLength: originalContextLength)
        guard scaling.factor > 0, scaling.highFrequencyFactor > scaling.lowFrequencyFactor, scaling.lowFrequencyFactor > 0 else {
            throw ModelError.invalidValue(file: file, key: "rope_parameters",
                                          reason: "llama3 scaling needs factor > 0 and high_freq_factor > low_freq_factor > 0")
        }
        return .llama3(scaling)
    }
}
