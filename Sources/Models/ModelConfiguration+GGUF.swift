// ModelConfiguration from a GGUF file's metadata (llama.* and gpt2.* keys, FORMATS.md "Keys we
// need"), plus the cross-field checks every configuration passes whatever its source.
// Tensor data is not read here.
import Checkpoints

extension ModelConfiguration {
    /// Reads the shape of the model from `general.architecture` and the `<arch>.*` keys.
    /// - Throws: `ModelError` naming the file and key that is missing or invalid.
    public init(gguf file: GGUFFile) throws {
        let name = file.url.lastPathComponent
        guard let archName = file.value(forKey: "general.architecture")?.string else {
            throw ModelError.missingKey(file: name, key: "general.architecture")
        }
        if ["phi3", "gptj"].contains(archName) {
            throw ModelError.unsupportedFeature(file: name, feature: "\(archName) in GGUF (load its Hugging Face safetensors folder)")
        }
        guard let architecture = Architecture(rawValue: archName) else {
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
                  attentionBias: architecture == .llama && file.tensor(named: "blk.0.attn_q.bias") != nil)

        if architecture == .llama {
            let rotated = try integer("rope.dimension_count", default: headDimension)
            if rotated != headDimension {
                throw ModelError.unsupportedFeature(file: name, feature: "partial rotary embedding (\(p)rope.dimension_count \(rotated), head size \(headDimension))")
            }
            if let scaling = file.value(forKey: p + "rope.scaling.type")?.string, scaling != "none" {
                throw ModelError.unsupportedFeature(file: name, feature: "RoPE scaling '\(scaling)'")
            }
            // llama.cpp stores Llama-3 RoPE scaling as per-frequency divisors, not as metadata.
            if file.tensor(named: "rope_freqs.weight") != nil {
                throw ModelError.unsupportedFeature(file: name, feature: "RoPE frequency factors (rope_freqs.weight, Llama-3 scaling in GGUF)")
            }
            if let window = file.value(forKey: p + "attention.sliding_window")?.integer, window > 0 {
                slidingWindow = window
            }
        }
        try validate(file: name)
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
