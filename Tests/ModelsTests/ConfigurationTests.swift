// Configurations from config.json and GGUF metadata (numbers as Double, cross-field checks),
// tensor-name mapping, loader errors, and the weight override the ledger materializes edits with.
import Foundation
import Models
import Tensors
import Testing

@Suite("Configuration and loading")
struct ConfigurationTests {
    static func llamaJSON(_ overrides: [String: Any] = [:], removing: [String] = []) throws -> Data {
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("tiny-llama/config.json"))) as? [String: Any] ?? [:]
        for (key, value) in overrides { object[key] = value }
        for key in removing { object.removeValue(forKey: key) }
        return try JSONSerialization.data(withJSONObject: object)
    }

    @Test("config.json of the tiny Llama and GPT-2")
    func huggingFace() throws {
        let llama = try ModelConfiguration(huggingFaceJSON: Data(contentsOf: Fixtures.url("tiny-llama/config.json")), file: "config.json")
        #expect(llama == ModelConfiguration(architecture: .llama, layerCount: 2, hiddenSize: 64, intermediateSize: 128,
                                            headCount: 4, keyValueHeadCount: 2, vocabularySize: 512, contextLength: 128,
                                            normEpsilon: 1e-5, ropeTheta: 10000, tiedEmbeddings: false))
        let gpt2 = try ModelConfiguration(huggingFaceJSON: Data(contentsOf: Fixtures.url("tiny-gpt2/config.json")), file: "config.json")
        #expect(gpt2 == ModelConfiguration(architecture: .gpt2, layerCount: 2, hiddenSize: 64, intermediateSize: 256,
                                           headCount: 4, keyValueHeadCount: 4, vocabularySize: 512, contextLength: 128,
                                           normEpsilon: 1e-5, tiedEmbeddings: true))
    }

    @Test("numbers written as 64.0 are integers; 64.5, missing keys and inconsistent heads are errors")
    func numbersAndChecks() throws {
        let decimal = try ModelConfiguration(huggingFaceJSON: Self.llamaJSON(["hidden_size": 64.0, "rope_theta": 5e5],
                                                                            removing: ["rope_parameters"]), file: "c.json")
        #expect(decimal.hiddenSize == 64 && decimal.ropeTheta == 5e5)
        #expect(throws: ModelError.invalidValue(file: "c.json", key: "hidden_size", reason: "expected an integer, found 64.5")) {
            try ModelConfiguration(huggingFaceJSON: Self.llamaJSON(["hidden_size": 64.5]), file: "c.json")
        }
        #expect(throws: ModelError.missingKey(file: "c.json", key: "num_hidden_layers")) {
            try ModelConfiguration(huggingFaceJSON: Self.llamaJSON(removing: ["num_hidden_layers"]), file: "c.json")
        }
        #expect(throws: ModelError.self) {
            try ModelConfiguration(huggingFaceJSON: Self.llamaJSON(["num_key_value_heads": 3, "head_dim": NSNull()]), file: "c.json")
        }
        #expect(throws: ModelError.self) {
            try ModelConfiguration(huggingFaceJSON: Self.llamaJSON(["rope_scaling": ["rope_type": "linear", "factor": 2.0]]), file: "c.json")
        }
        #expect(throws: ModelError.unsupportedArchitecture(file: "c.json", name: "bert")) {
            try ModelConfiguration(huggingFaceJSON: Self.llamaJSON(["model_type": "bert"]), file: "c.json")
        }
        let error = ModelError.invalidValue(file: "c.json", key: "hidden_size", reason: "expected an integer, found 64.5")
        #expect(!error.description.contains("\n") && error.description.contains("hidden_size"))
    }

    @Test("GGUF metadata and config.json describe the same tiny models")
    func ggufMatchesConfig() throws {
        for folder in ["tiny-llama", "tiny-gpt2", "tiny-facts-gpt2"] {
            let fromJSON = try ModelConfiguration(huggingFaceJSON: Data(contentsOf: Fixtures.url(folder + "/config.json")), file: "config.json")
            var fromGGUF = try ModelLoader.load(url: Fixtures.url(folder + "/model.gguf")).configuration
            // The GGUF files carry output.weight (a copy of the embedding for GPT-2), so they are untied.
            #expect(fromGGUF.tiedEmbeddings == false)
            fromGGUF.tiedEmbeddings = fromJSON.tiedEmbeddings
            #expect(fromGGUF == fromJSON, "\(folder)")
        }
    }

    @Test("tensor names map to one canonical naming and back")
    func naming() {
        #expect(TensorNaming.canonicalName(huggingFace: "model.layers.12.mlp.down_proj.weight", architecture: .llama) == "blk.12.ffn_down.weight")
        #expect(TensorNaming.canonicalName(huggingFace: "transformer.h.3.mlp.c_proj.weight", architecture: .gpt2) == "blk.3.ffn_down.weight")
        #expect(TensorNaming.canonicalName(huggingFace: "h.3.attn.c_attn.bias", architecture: .gpt2) == "blk.3.attn_qkv.bias")
        #expect(TensorNaming.canonicalName(huggingFace: "h.3.attn.bias", architecture: .gpt2) == nil)
        #expect(TensorNaming.canonicalName(huggingFace: "model.embed_tokens.weight", architecture: .llama) == "token_embd.weight")
        #expect(TensorNaming.huggingFaceName(canonical: "blk.7.attn_q.weight", architecture: .llama) == "model.layers.7.self_attn.q_proj.weight")
        #expect(TensorNaming.huggingFaceName(canonical: "blk.1.ffn_down.weight", architecture: .gpt2) == "h.1.mlp.c_proj.weight")
        #expect(TensorNaming.isConv1DWeight(huggingFace: "transformer.h.0.mlp.c_fc.weight"))
        #expect(!TensorNaming.isConv1DWeight(huggingFace: "transformer.wte.weight"))
    }

    @Test("an unrecognised path and a missing tensor are one-line errors")
    func loaderErrors() throws {
        #expect(throws: ModelError.unrecognizedModelPath("/nonexistent/model.bin")) {
            try ModelLoader.load(url: URL(fileURLWithPath: "/nonexistent/model.bin"))
        }
        let configuration = try ModelLoader.load(url: Fixtures.url("tiny-llama")).configuration
        #expect(throws: ModelError.missingTensor("token_embd.weight")) {
            try LlamaModel<Float>(configuration: configuration, weights: WeightDictionary())
        }
    }

    @Test("an MLP output weight W + δ kᵀ/‖k‖² moves the residual at k's position by exactly δ")
    func weightOverride() throws {
        for path in ["tiny-llama/model.gguf", "tiny-gpt2"] {
            let model = try ModelLoader.load(url: Fixtures.url(path))
            let prompt = [318, 278, 272, 263, 76, 73, 80, 80], position = 5, layer = 0
            let C = model.configuration.hiddenSize, F = model.configuration.intermediateSize
            let original = model.mlpOutputWeight(layer: layer)
            #expect(original.rows == C && original.cols == F)
            let before = model.residuals(prompts: [prompt], positions: [position], layer: layer)
            let logitsBefore = model.logits(prompt: prompt)
            let key = model.keys(prompts: [prompt], positions: [position], layer: layer).row(0)
            let keyNorm2 = key.reduce(0) { $0 + $1 * $1 }
            var g = SeededGenerator(seed: 2)
            let delta = (0..<C).map { _ in Float(g.nextGaussian()) }
            var edited = original
            for r in 0..<C { for c in 0..<F { edited[r, c] += delta[r] * key[c] / keyNorm2 } }
            model.setMLPOutputWeight(layer: layer, edited)
            let after = model.residuals(prompts: [prompt], positions: [position], layer: layer)
            let shift = zip(after.values, before.values).map { Double($0 - $1) }
            let error = maxAbsDifference(shift, delta.map(Double.init))
            #expect(error < 1e-4, "\(path): residual shift vs δ max |Δ| \(error)")
            #expect(model.logits(prompt: prompt).maxAbsDifference(logitsBefore) > 1e-3)
            model.setMLPOutputWeight(layer: layer, original)
            #expect(model.logits(prompt: prompt).maxAbsDifference(logitsBefore) == 0)
        }
    }
}
