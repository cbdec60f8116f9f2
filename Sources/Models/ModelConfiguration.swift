// The shape of a transformer, whatever file it came from: filled from GGUF metadata
// (ModelConfiguration+GGUF.swift) or a Hugging Face config.json (ModelConfiguration+HF.swift).

/// The architectures mledit runs.
public enum Architecture: String, Codable, Sendable {
    case llama
    case gpt2
    case gemma3
}

/// Dimensions and constants of a decoder-only transformer.
public struct ModelConfiguration: Codable, Sendable, Equatable {
    public var architecture: Architecture
    public var layerCount: Int
    /// d_model.
    public var hiddenSize: Int
    /// d_ff: the MLP's inner width, also the width of an edit key.
    public var intermediateSize: Int
    public var headCount: Int
    /// Grouped-query attention: key/value heads (= headCount without GQA).
    public var keyValueHeadCount: Int
    public var vocabularySize: Int
    public var contextLength: Int
    /// RMSNorm (Llama) or LayerNorm (GPT-2) epsilon.
    public var normEpsilon: Float
    /// RoPE base frequency (Llama only).
    public var ropeTheta: Float
    /// Whether the LM head reuses the token embedding.
    public var tiedEmbeddings: Bool
    /// Qwen2-style q/k/v biases (Llama family only).
    public var attentionBias: Bool
    /// Gemma-3's head size, sliding windows and RoPE bases; nil (and not encoded) otherwise.
    public var gemma3: Gemma3Settings?

    enum CodingKeys: String, CodingKey {
        case architecture
        case layerCount = "layer_count"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case headCount = "head_count"
        case keyValueHeadCount = "key_value_head_count"
        case vocabularySize = "vocabulary_size"
        case contextLength = "context_length"
        case normEpsilon = "norm_epsilon"
        case ropeTheta = "rope_theta"
        case tiedEmbeddings = "tied_embeddings"
        case attentionBias = "attention_bias"
        case gemma3
    }

    public init(architecture: Architecture, layerCount: Int, hiddenSize: Int, intermediateSize: Int,
                headCount: Int, keyValueHeadCount: Int, vocabularySize: Int, contextLength: Int,
                normEpsilon: Float, ropeTheta: Float = 10000, tiedEmbeddings: Bool, attentionBias: Bool = false) {
        self.architecture = architecture
        self.layerCount = layerCount
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.normEpsilon = normEpsilon
        self.ropeTheta = ropeTheta
        self.tiedEmbeddings = tiedEmbeddings
        self.attentionBias = attentionBias
    }

    public var headDimension: Int { gemma3?.headDimension ?? hiddenSize / headCount }
}
