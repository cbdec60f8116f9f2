// The shape of a transformer, whatever file it came from: filled from GGUF metadata
// (ModelConfiguration+GGUF.swift) or a Hugging Face config.json (ModelConfiguration+HF.swift).

/// The architectures mledit runs.
public enum Architecture: String, Codable, Sendable {
    case llama
    case gpt2
    /// GPT-J: parallel attention and MLP on one LayerNorm, partial interleaved rotary embedding.
    case gptj
    case gemma3
}

/// The Hugging Face family of a Llama-architecture model when its config.json is not Llama's own
/// (Qwen2 is told by its q/k/v biases, so existing configurations need no family).
public enum ModelFamily: String, Codable, Sendable {
    case mistral
    case phi3
}

/// The parameters of Llama-3 RoPE frequency scaling (`rope_type: "llama3"`): wavelengths above
/// originalContextLength / lowFrequencyFactor are divided by `factor`, ones below
/// originalContextLength / highFrequencyFactor kept, the band between interpolated.
public struct Llama3RopeParameters: Codable, Sendable, Equatable {
    public var factor: Double
    public var lowFrequencyFactor: Double
    public var highFrequencyFactor: Double
    public var originalContextLength: Int

    enum CodingKeys: String, CodingKey {
        case factor
        case lowFrequencyFactor = "low_freq_factor"
        case highFrequencyFactor = "high_freq_factor"
        case originalContextLength = "original_max_position_embeddings"
    }

    public init(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContextLength: Int) {
        self.factor = factor
        self.lowFrequencyFactor = lowFrequencyFactor
        self.highFrequencyFactor = highFrequencyFactor
        self.originalContextLength = originalContextLength
    }
}

/// Llama-3 RoPE frequency scaling, as a Hugging Face config states it or as llama.cpp stores it.
/// Encoded as the bare parameters (so configurations that had them before keep their encoding
/// and ledger ids) or as `{"frequency_divisors": […]}`.
public enum RopeScaling: Codable, Sendable, Equatable {
    case llama3(Llama3RopeParameters)
    /// llama.cpp's `rope_freqs.weight`: one divisor per inverse frequency, which its converter
    /// computes from the llama3 parameters; the GGUF file keeps the divisors, not the parameters
    /// (and the parameters cannot be recovered from them: scaling all three lengths gives the same).
    case frequencyDivisors([Float])

    public init(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContextLength: Int) {
        self = .llama3(Llama3RopeParameters(factor: factor, lowFrequencyFactor: lowFrequencyFactor,
                                            highFrequencyFactor: highFrequencyFactor, originalContextLength: originalContextLength))
    }

    private enum DivisorKey: String, CodingKey {
        case frequencyDivisors = "frequency_divisors"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: DivisorKey.self)
        if let divisors = try container.decodeIfPresent([Float].self, forKey: .frequencyDivisors) {
            self = .frequencyDivisors(divisors)
        } else {
            self = .llama3(try Llama3RopeParameters(from: decoder))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case let .llama3(parameters):
            try parameters.encode(to: encoder)
        case let .frequencyDivisors(divisors):
            var container = encoder.container(keyedBy: DivisorKey.self)
            try container.encode(divisors, forKey: .frequencyDivisors)
        }
    }
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
    // The optional fields below are encoded only when set, so configurations without them (and
    // the ledger commit ids computed from them) are unchanged.
    /// Sliding-window attention: a token attends to itself and the `slidingWindow − 1` positions before it.
    public var slidingWindow: Int?
    /// Llama-3 RoPE frequency scaling.
    public var ropeScaling: RopeScaling?
    /// Rotated dimensions of each head when fewer than the head size (GPT-J's rotary_dim).
    public var rotaryDimension: Int?
    public var family: ModelFamily?
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
        case slidingWindow = "sliding_window"
        case ropeScaling = "rope_scaling"
        case rotaryDimension = "rotary_dimension"
        case family
        case gemma3
    }

    public init(architecture: Architecture, layerCount: Int, hiddenSize: Int, intermediateSize: Int,
                headCount: Int, keyValueHeadCount: Int, vocabularySize: Int, contextLength: Int,
                normEpsilon: Float, ropeTheta: Float = 10000, tiedEmbeddings: Bool, attentionBias: Bool = false,
                slidingWindow: Int? = nil, ropeScaling: RopeScaling? = nil, rotaryDimension: Int? = nil,
                family: ModelFamily? = nil) {
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
        self.slidingWindow = slidingWindow
        self.ropeScaling = ropeScaling
        self.rotaryDimension = rotaryDimension
        self.family = family
    }

    public var headDimension: Int { gemma3?.headDimension ?? hiddenSize / headCount }

    /// Dimensions of each head that RoPE rotates.
    public var rotatedDimensions: Int { rotaryDimension ?? headDimension }
}
