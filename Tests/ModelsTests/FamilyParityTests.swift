// The families beyond Llama and GPT-2 (Mistral's sliding window, Llama-3 RoPE scaling, Qwen2's
// biases with tied embeddings, Phi-3's fused projections, GPT-J's parallel block and partial
// interleaved rotary) against transformers' golden values (scripts/make-fixtures): top logits at
// every position, hidden-state norms, greedy tokens through the KV cache; their configurations;
// the refusal of what the runtime does not implement; and HF exports that reload to the same logits.
import Checkpoints
import Foundation
import Models
import Tensors
import Testing

@Suite("Model family parity")
struct FamilyParityTests {
    static let families = ["tiny-mistral", "tiny-llama3", "tiny-qwen2", "tiny-phi3", "tiny-gptj"]

    @Test("top logits, hidden norms and greedy tokens match transformers", arguments: families)
    func golden(folder: String) throws {
        let model = try ModelLoader.load(url: Fixtures.url(folder))
        let golden = try Fixtures.json(folder + "/golden.json")
        let sequences = dictionaries(golden["sequences"])
        try #require(sequences.count == 3)
        let L = model.configuration.layerCount
        for (index, sequence) in sequences.enumerated() {
            let ids = ints(sequence["ids"])
            let logits = model.logits(prompt: ids)
            let topIDs = (sequence["top_ids"] as? [Any] ?? []).map { ints($0) }
            let topLogits = (sequence["top_logits"] as? [Any] ?? []).map { doubles($0) }
            try #require(topIDs.count == ids.count && topLogits.count == ids.count)
            var logitError = 0.0
            for t in 0..<ids.count {
                let row = rowDoubles(logits, t)
                logitError = max(logitError, maxAbsDifference(topIDs[t].map { row[$0] }, topLogits[t]))
                logitError = max(logitError, abs((row.max() ?? .nan) - topLogits[t][0]))
            }
            #expect(logitError < 1e-4, "\(folder) sequence \(index): max |Δ top logit| \(logitError)")

            let hidden = model.hiddenStates(prompt: ids)
            let norms = dictionary(sequence["hidden_l2"])
            var worst = maxRelativeDifference(rowNorms(hidden.embeddings), doubles(norms["embeddings"]))
            for layer in 0..<(L - 1) {
                worst = max(worst, maxRelativeDifference(rowNorms(hidden.afterLayer[layer]), doubles(norms["after_layer_\(layer)"])))
            }
            worst = max(worst, maxRelativeDifference(rowNorms(hidden.finalNorm), doubles(norms["final_norm"])))
            #expect(worst < 1e-5, "\(folder) sequence \(index): max relative Δ hidden norm \(worst)")

            let expected = ints(sequence["greedy"])
            let generation = model.generate(prompt: ids, maxNewTokens: expected.count, sampling: SamplingOptions(stopTokenIDs: []))
            #expect(generation.tokens == expected, "\(folder) sequence \(index): greedy tokens")
        }
    }

    @Test("a batch of prompts of different lengths gives each prompt's own logits (windowed and GPT-J)",
          arguments: ["tiny-mistral", "tiny-phi3", "tiny-gptj"])
    func batchedMatchesSingle(folder: String) throws {
        let model = try ModelLoader.load(url: Fixtures.url(folder))
        let prompts = dictionaries(try Fixtures.json(folder + "/golden.json")["sequences"]).map { ints($0["ids"]) }
        let positions = prompts.map { $0.count - 2 }
        let batched = model.logits(prompts: prompts, positions: positions)
        var worst = 0.0
        for (i, prompt) in prompts.enumerated() {
            worst = max(worst, maxAbsDifference(rowDoubles(batched, i), rowDoubles(model.logits(prompt: prompt), positions[i])))
        }
        #expect(worst < 1e-5, "\(folder): batched vs single max |Δlogit| \(worst)")
    }

    @Test("the configurations carry each family's features")
    func configurations() throws {
        func load(_ folder: String) throws -> ModelConfiguration {
            try ModelConfiguration(huggingFaceJSON: Data(contentsOf: Fixtures.url(folder + "/config.json")), file: "config.json")
        }
        let mistral = try load("tiny-mistral")
        #expect(mistral.architecture == .llama && mistral.family == .mistral && mistral.slidingWindow == 4 && mistral.ropeScaling == nil)
        let llama3 = try load("tiny-llama3")
        #expect(llama3.family == nil && llama3.slidingWindow == nil)
        #expect(llama3.ropeScaling == RopeScaling(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContextLength: 64))
        let qwen2 = try load("tiny-qwen2")
        #expect(qwen2.family == nil && qwen2.attentionBias && qwen2.tiedEmbeddings && qwen2.slidingWindow == nil)
        let phi3 = try load("tiny-phi3")
        #expect(phi3.architecture == .llama && phi3.family == .phi3 && phi3.slidingWindow == 5)
        let gptj = try load("tiny-gptj")
        #expect(gptj.architecture == .gptj && gptj.rotaryDimension == 8 && gptj.headDimension == 16 && !gptj.tiedEmbeddings)
        #expect(gptj.intermediateSize == 128 && gptj.keyValueHeadCount == gptj.headCount)
    }

    @Test("configurations without the new features encode as before; with them they round-trip")
    func encoding() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let llama = try ModelConfiguration(huggingFaceJSON: Data(contentsOf: Fixtures.url("tiny-llama/config.json")), file: "config.json")
        let object = try #require(try JSONSerialization.jsonObject(with: encoder.encode(llama)) as? [String: Any])
        #expect(Set(object.keys) == ["architecture", "attention_bias", "context_length", "head_count", "hidden_size",
                                     "intermediate_size", "key_value_head_count", "layer_count", "norm_epsilon",
                                     "rope_theta", "tied_embeddings", "vocabulary_size"])
        for folder in Self.families {
            let c = try ModelConfiguration(huggingFaceJSON: Data(contentsOf: Fixtures.url(folder + "/config.json")), file: "config.json")
            #expect(try JSONDecoder().decode(ModelConfiguration.self, from: encoder.encode(c)) == c, "\(folder)")
        }
    }

    static func config(_ folder: String, _ changes: [String: Any], removing: [String] = []) throws -> Data {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url(folder + "/config.json"))) as? [String: Any])
        for (key, value) in changes { object[key] = value }
        for key in removing { object.removeValue(forKey: key) }
        return try JSONSerialization.data(withJSONObject: object)
    }

    @Test("features the runtime does not implement are refused with a one-line error naming them")
    func refusals() throws {
        let cases: [(folder: String, changes: [String: Any], removing: [String], names: String)] = [
            ("tiny-phi3", ["rope_parameters": ["rope_type": "longrope", "rope_theta": 10000.0, "short_factor": [1.0], "long_factor": [1.0]]], [], "longrope"),
            ("tiny-phi3", ["rope_scaling": ["type": "su", "short_factor": [1.0], "long_factor": [1.0]]], [], "'su'"),
            ("tiny-phi3", ["rope_parameters": ["rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.75]], [], "partial_rotary_factor"),
            ("tiny-llama3", ["rope_parameters": ["rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0]], [], "yarn"),
            ("tiny-qwen2", ["use_sliding_window": true, "sliding_window": 4], [], "use_sliding_window"),
            ("tiny-mistral", ["layer_types": ["full_attention", "sliding_attention"]], [], "layer_types"),
            ("tiny-gptj", ["rotary_dim": NSNull()], [], "rotary_dim"),
            ("tiny-gptj", ["activation_function": "relu"], [], "activation_function"),
        ]
        for item in cases {
            let data = try Self.config(item.folder, item.changes, removing: item.removing)
            do {
                _ = try ModelConfiguration(huggingFaceJSON: data, file: "config.json")
                Issue.record("\(item.folder) with \(item.changes): loaded, expected a refusal naming \(item.names)")
            } catch let error as ModelError {
                guard case .unsupportedFeature = error else {
                    Issue.record("\(item.folder): expected unsupportedFeature, got \(error)")
                    continue
                }
                #expect(error.description.contains(item.names) && !error.description.contains("\n"), "\(error)")
            }
        }
        #expect(throws: ModelError.invalidValue(file: "config.json", key: "rotary_dim",
                                                reason: "must be even, positive and at most the head size 16, found 32")) {
            try ModelConfiguration(huggingFaceJSON: Self.config("tiny-gptj", ["rotary_dim": 32]), file: "config.json")
        }
        #expect(throws: ModelError.missingKey(file: "config.json", key: "rope_parameters.low_freq_factor")) {
            try ModelConfiguration(huggingFaceJSON: Self.config("tiny-llama3", ["rope_parameters": [
                "rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64]]), file: "config.json")
        }
    }

    @Test("a Hugging Face export with an edited MLP output reloads to the edited model's logits", arguments: families)
    func exportReloads(folder: String) throws {
        let source = Fixtures.url(folder)
        let model = try ModelLoader.load(url: source)
        let layer = model.configuration.layerCount - 1
        var weight = model.mlpOutputWeight(layer: layer)
        for i in stride(from: 0, to: weight.values.count, by: 7) { weight.values[i] += 0.05 }
        model.setMLPOutputWeight(layer: layer, weight)
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-family-export-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: destination) }
        let report = try CheckpointExport.writeHuggingFace(source: source, overrides: [TensorNaming.mlpOutputWeight(layer: layer): weight],
                                                           to: destination)
        let sourceNames = try SafetensorsNames.names(source.appendingPathComponent("model.safetensors"))
        #expect(Set(report.tensorNames) == sourceNames, "\(folder): export writes the source's tensor names")
        let reloaded = try ModelLoader.load(url: destination)
        #expect(reloaded.configuration == model.configuration)
        let prompt = ints(dictionaries(try Fixtures.json(folder + "/golden.json")["sequences"]).first?["ids"])
        let difference = maxAbsDifference(model.logits(prompt: prompt).values.map(Double.init),
                                          reloaded.logits(prompt: prompt).values.map(Double.init))
        #expect(difference < 1e-5, "\(folder): max |Δlogit| edited vs reloaded export \(difference)")
        let original = try ModelLoader.load(url: source)
        let moved = maxAbsDifference(original.logits(prompt: prompt).values.map(Double.init),
                                     reloaded.logits(prompt: prompt).values.map(Double.init))
        #expect(moved > 1e-3, "\(folder): the override reached the export (max |Δlogit| vs the source \(moved))")
    }
}

/// Tensor names of a safetensors file, from its header.
enum SafetensorsNames {
    static func names(_ url: URL) throws -> Set<String> {
        let data = try Data(contentsOf: url)
        let length = data.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
        let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any])
        return Set(header.keys.filter { $0 != "__metadata__" })
    }
}

@Suite("Model family GGUF metadata")
struct FamilyGGUFTests {
    /// A one-block Llama GGUF holding only metadata and `extraTensors`.
    static func gguf(architecture: String = "llama", metadata: [(String, GGUFValue)] = [],
                     extraTensors: [(String, [Int])] = []) throws -> GGUFFile {
        var writer = GGUFWriter()
        writer.addMetadata("general.architecture", .string(architecture))
        for (key, value) in [("block_count", 1), ("embedding_length", 8), ("feed_forward_length", 16),
                             ("attention.head_count", 2), ("context_length", 32), ("vocab_size", 4)] {
            writer.addMetadata("\(architecture).\(key)", .uint32(UInt32(value)))
        }
        writer.addMetadata("\(architecture).attention.layer_norm_rms_epsilon", .float32(1e-5))
        for (key, value) in metadata { writer.addMetadata(key, value) }
        try writer.addTensor(name: "token_embd.weight", shape: [4, 8], floats: [Float](repeating: 0.5, count: 32), type: .f32)
        for (name, shape) in extraTensors {
            try writer.addTensor(name: name, shape: shape, floats: [Float](repeating: 1, count: shape.reduce(1, *)), type: .f32)
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-family-\(UUID().uuidString).gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        try writer.write(to: url)
        return try GGUFFile(contentsOf: url)
    }

    @Test("llama.attention.sliding_window is honoured; rope_freqs.weight gives the RoPE divisors; LongRoPE factors and misshapen divisors are refused")
    func metadata() throws {
        let plain = try ModelConfiguration(gguf: Self.gguf())
        #expect(plain.slidingWindow == nil && plain.ropeScaling == nil)
        let windowed = try ModelConfiguration(gguf: Self.gguf(metadata: [("llama.attention.sliding_window", .uint32(3))]))
        #expect(windowed.slidingWindow == 3)
        let scaled = try ModelConfiguration(gguf: Self.gguf(extraTensors: [("rope_freqs.weight", [2])]))
        #expect(scaled.ropeScaling == .frequencyDivisors([1, 1]))
        let phi3 = try ModelConfiguration(gguf: Self.gguf(architecture: "phi3", metadata: [("phi3.attention.sliding_window", .uint32(0))]))
        #expect(phi3.architecture == .llama && phi3.family == .phi3 && phi3.slidingWindow == nil)
        let refusals: [(file: GGUFFile, names: String)] = [
            (try Self.gguf(architecture: "phi3", extraTensors: [("rope_factors_long.weight", [2])]), "rope_factors_long.weight"),
        ]
        for (file, names) in refusals {
            do {
                _ = try ModelConfiguration(gguf: file)
                Issue.record("loaded, expected a refusal naming \(names)")
            } catch let error as ModelError {
                guard case .unsupportedFeature = error else {
                    Issue.record("expected unsupportedFeature, got \(error)")
                    continue
                }
                #expect(error.description.contains(names) && !error.description.contains("\n"), "\(error)")
            }
        }
        #expect(throws: ModelError.tensorShape("rope_freqs.weight", expected: [2], actual: [3])) {
            try ModelConfiguration(gguf: Self.gguf(extraTensors: [("rope_freqs.weight", [3])]))
        }
    }
}
