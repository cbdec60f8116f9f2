// ModelConfiguration from a GGUF file's metadata (the `<arch>.*` keys, FORMATS.md "Keys we need")
// as llama.cpp's converter writes them for llama (also Mistral and Llama-3), qwen2, phi3, gpt2,
// gptj and gemma3, plus the cross-field checks every configuration passes whatever its source.
// Qwen2 and Phi-3 are the Llama architecture here, as in their Hugging Face configs. Tensor data
// is not read here, except Llama-3's RoPE frequency divisors (rope_freqs.weight), which are part
// of the configuration.
import Checkpoints

extension ModelConfiguration {
    /// Reads the shape of the model from `general.architecture` and the `<arch>.*` keys.
    /// - Throws: `ModelError` naming the file and key that is missing or invalid.
    public init(gguf file: GGUFFile) throws {
        let name = file.url.lastPathComponent
        guard let archName = file.value(forKey: "general.architecture")?.string else {
            throw ModelError.missingKey(file: name, key: "general.architecture")
        }
        let family: ModelFamily? = archName == "phi3" ? .phi3 : nil
        guard let architecture = ["qwen2", "phi3"].contains(archName) ? .llama : Architecture(rawValue: archName) else {
            throw ModelError.unsupportedArchitecture(file: name, name: archName)
        }
        if architecture == .gemma3 {
            self = try Self.gemma3(gguf: file)
            try validate(file: name)
            return
        }
        let p = archName + "."

        func integer(_ key: String, default fallback: Int? = nil) throws -> Int {
            guard let value = file.value(forKey: p + key) else {
                if let fallback { return fallback }
                throw ModelError.missingKey(file: name, key: p + key)
            }
            if let v = value.integer { return v }
            // Per-layer arrays are accepted when every layer agrees.
            if let items = value.array?.compactMap(\.integer), let first = items.first,
               items.count == value.array?.count, items.allSatisfy({ $0 == first }) {
                return first
            }
            throw ModelError.invalidValue(file: name, key: p + key, reason: "expected an integer, found \(value.type.name)")
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

        let heads = try integer("attention.head_count")
        let hidden = try integer("embedding_length")
        var vocabulary = file.value(forKey: p + "vocab_size")?.integer
            ?? file.value(forKey: "tokenizer.ggml.tokens")?.array?.count
        if vocabulary == nil, let embedding = file.tensor(named: "token_embd.weight"), embedding.shape.count == 2 {
            vocabulary = embedding.shape[0]
        }
        guard let vocabularySize = vocabulary else { throw ModelError.missingKey(file: name, key: p + "vocab_size") }
        let epsilonKey = architecture == .llama ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon"

        self.init(architecture: architecture,
                  layerCount: try integer("block_count"),
                  hiddenSize: hidden,
                  intermediateSize: try integer("feed_forward_length"),
                  headCount: heads,
                  keyValueHeadCount: try integer("attention.head_count_kv", default: heads),
                  vocabularySize: vocabularySize,
                  contextLength: try integer("context_length"),
                  normEpsilon: Float(try real(epsilonKey)),
                  ropeTheta: Float(try real("rope.freq_base", default: 10000)),
                  tiedEmbeddings: file.tensor(named: "output.weight") == nil,
                  attentionBias: architecture == .llama && file.tensor(named: "blk.0.attn_q.bias") != nil,
                  family: family)

        switch architecture {
        case .llama:
            let rotated = try integer("rope.dimension_count", default: headDimension)
            if rotated != headDimension {
                throw ModelError.unsupportedFeature(file: name, feature: "partial rotary embedding (\(p)rope.dimension_count \(rotated), head size \(headDimension))")
            }
            if let scaling = file.value(forKey: p + "rope.scaling.type")?.string, scaling != "none" {
                throw ModelError.unsupportedFeature(file: name, feature: "RoPE scaling '\(scaling)'")
            }
            for longRope in ["rope_factors_long.weight", "rope_factors_short.weight"] where file.tensor(named: longRope) != nil {
                throw ModelError.unsupportedFeature(file: name, feature: "Phi-3 LongRoPE factors (\(longRope))")
            }
            if file.tensor(named: "blk.0.attn_qkv.bias") != nil {
                throw ModelError.unsupportedFeature(file: name, feature: "biases on the fused attn_qkv (blk.0.attn_qkv.bias)")
            }
            ropeScaling = try Self.ropeFrequencyDivisors(file, count: headDimension / 2)
            // llama.cpp writes 0 for Phi-3 models without a window.
            if archName != "qwen2", let window = file.value(forKey: p + "attention.sliding_window")?.integer, window > 0 {
                slidingWindow = window
            }
        case .gptj:
            if keyValueHeadCount != headCount {
                throw ModelError.invalidValue(file: name, key: p + "attention.head_count_kv", reason: "GPT-J has no grouped-query attention, found \(keyValueHeadCount) for \(headCount) heads")
            }
            let rotated = try integer("rope.dimension_count")
            guard rotated > 0, rotated % 2 == 0, rotated <= headDimension else {
                throw ModelError.invalidValue(file: name, key: p + "rope.dimension_count",
                                              reason: "must be even, positive and at most the head size \(headDimension), found \(rotated)")
            }
            rotaryDimension = rotated
        case .gpt2, .gemma3:
            break
        }
        try validate(file: name)
    }

    /// llama.cpp's `rope_freqs.weight` (Llama-3 scaling as one divisor per inverse frequency), or
    /// nil when the file has none.
    /// - Throws: `ModelError` when the tensor has not `count` positive finite values.
    static func ropeFrequencyDivisors(_ file: GGUFFile, count: Int) throws -> RopeScaling? {
        let tensorName = "rope_freqs.weight"
        guard let info = file.tensor(named: tensorName) else { return nil }
        guard info.shape == [count] else {
            throw ModelError.tensorShape(tensorName, expected: [count], actual: info.shape)
        }
        let divisors: [Float]
        do {
            divisors = try file.floats(for: info)
        } catch let error as CheckpointError {
            throw ModelError.checkpoint(error.description)
        }
        if let bad = divisors.first(where: { !($0 > 0) || !$0.isFinite }) {
            throw ModelError.invalidValue(file: file.url.lastPathComponent, key: tensorName, reason: "RoPE frequency divisors must be positive and finite, found \(bad)")
        }
        return .frequencyDivisors(divisors)
    }

    /// Cross-field checks: positive sizes, heads dividing the width, KV heads dividing the heads.
    /// - Throws: `ModelError.invalidValue` naming the offending field.
    public func validate(file: String) throws {
        let positives: [(String, Int)] = [
            ("layer_count", layerCount), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
            ("head_count", headCount), ("key_value_head_count", keyValueHeadCount),
            ("vocabulary_size", vocabularySize), ("context_length", contextLength),
        ]
        for (key, value) in positives where value <= 0 {
            throw ModelError.invalidValue(file: file, key: key, reason: "must be positive, found \(value)")
        }
        if gemma3 == nil && hiddenSize % headCount != 0 {
            throw ModelError.invalidValue(file: file, key: "head_count", reason: "\(headCount) heads do not divide hidden size \(hiddenSize)")
        }
        if headCount % keyValueHeadCount != 0 {
            throw ModelError.invalidValue(file: file, key: "key_value_head_count",
                                          reason: "\(keyValueHeadCount) key/value heads do not divide \(headCount) heads")
        }
        if architecture == .gpt2 && keyValueHeadCount != headCount {
            throw ModelError.invalidValue(file: file, key: "key_value_head_count", reason: "GPT-2 has no grouped-query attention")
        }
        if architecture == .llama && headDimension % 2 != 0 {
            throw ModelError.invalidValue(file: file, key: "head_count", reason: "RoPE needs an even head size, found \(headDimension)")
        }
        try gemma3?.validate(file: file, layerCount: layerCount)
        if !(normEpsilon > 0) || !normEpsilon.isFinite {
            throw ModelError.invalidValue(file: file, key: "norm_epsilon", reason: "must be positive and finite, found \(normEpsilon)")
        }
        if architecture == .llama && (!(ropeTheta > 0) || !ropeTheta.isFinite) {
            throw ModelError.invalidValue(file: file, key: "rope_theta", reason: "must be positive and finite, found \(ropeTheta)")
        }
    }
}
