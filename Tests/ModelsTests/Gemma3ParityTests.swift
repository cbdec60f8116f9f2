// Gemma-3: the tiny random checkpoint (tiny-gemma3, safetensors, made by
// scripts/make-gemma3-fixtures tiny) against transformers' float32 logits, MLP keys and greedy
// tokens; the configuration's encoding and refusals; the sliding-window kernel against its naive
// reference; and, when it has been fetched (scripts/fetch-model --model gemma3-270m),
// Gemma-3-270M against transformers' top-10 logits and greedy continuations in gemma3/golden.json.
// Token ids of the real-model prompts come from the fixture, not from mledit's tokenizer.
import Checkpoints
import Foundation
@testable import Models
import Tensors
import Testing

enum Gemma3Fixture {
    /// $MLEDIT_CACHE (default ~/.cache/mledit)/gemma-3-270m-q4_k_m.gguf.
    static var realModelURL: URL {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["MLEDIT_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/mledit").path
        return URL(fileURLWithPath: cache).appendingPathComponent("gemma-3-270m-q4_k_m.gguf")
    }

    static var realModelFetched: Bool { FileManager.default.fileExists(atPath: realModelURL.path) }

    /// Gemma-3-270M, loaded once for the whole run. Tests must not change its weights.
    nonisolated(unsafe) static let realModel: Result<any TransformerModel, any Error> = Result {
        try ModelLoader.load(url: realModelURL)
    }
}

@Suite("Gemma-3")
struct Gemma3ParityTests {
    @Test("tiny-gemma3: logits at every position, MLP keys and greedy tokens equal transformers'")
    func tinyParity() throws {
        let model = try ModelLoader.load(url: Fixtures.url("tiny-gemma3"))
        let c = model.configuration
        let settings = try #require(c.gemma3)
        #expect(c.architecture == .gemma3 && c.headDimension == 32 && c.hiddenSize / c.headCount == 16)
        #expect(settings.slidingLayers == [true, true, true, true, true, false] && settings.slidingWindow == 5)
        #expect(settings.queryPreAttentionScalar == 24 && settings.localRopeTheta == 10_000 && c.ropeTheta == 1_000_000)
        let golden = try Fixtures.json("tiny-gemma3/golden.json")
        let sequences = dictionaries(golden["sequences"])
        try #require(sequences.count == 3)
        for (index, sequence) in sequences.enumerated() {
            let ids = ints(sequence["ids"])
            let logits = model.logits(prompt: ids)
            let expected = (sequence["logits"] as? [Any] ?? []).map { doubles($0) }
            try #require(expected.count == ids.count && logits.rows == ids.count)
            let error = (0..<ids.count).map { maxAbsDifference(rowDoubles(logits, $0), expected[$0]) }.max() ?? .nan
            #expect(error < 1e-4, "sequence \(index) (\(ids.count) tokens, window 5): max |Δlogit| \(error)")

            let keys = dictionary(sequence["mlp_key_last"])
            for layer in [0, 5] {
                let key = model.keys(prompts: [ids], positions: [ids.count - 1], layer: layer)
                let keyError = maxAbsDifference(rowDoubles(key, 0), doubles(keys["layer_\(layer)"]))
                #expect(keyError < 1e-4, "sequence \(index) layer \(layer): key max |Δ| \(keyError)")
            }
            let greedy = model.generate(prompt: ids, maxNewTokens: 8, sampling: SamplingOptions(stopTokenIDs: []))
            #expect(greedy.tokens == ints(sequence["greedy"]), "sequence \(index): greedy tokens")
        }
    }

    @Test("tiny-gemma3: a batch of prompts of different lengths gives each prompt's own logits")
    func tinyBatch() throws {
        let model = try ModelLoader.load(url: Fixtures.url("tiny-gemma3"))
        let prompts = dictionaries(try Fixtures.json("tiny-gemma3/golden.json")["sequences"]).map { ints($0["ids"]) }
        let positions = prompts.map { $0.count - 1 }
        let batched = model.logits(prompts: prompts, positions: positions)
        var worst = 0.0
        for (i, prompt) in prompts.enumerated() {
            worst = max(worst, maxAbsDifference(rowDoubles(batched, i), rowDoubles(model.logits(prompt: prompt), positions[i])))
        }
        #expect(worst < 1e-5, "batched vs single max |Δlogit| \(worst)")
    }

    @Test("sliding-window attention equals the naive loops, and the causal kernel when the window covers all keys")
    func slidingKernel() {
        let Tq = 7, Tk = 11, NH = 4, NKV = 2, HS = 8
        var g = SeededGenerator(seed: 3)
        let q = (0..<(Tq * NH * HS)).map { _ in Float(g.nextGaussian()) }
        let k = (0..<(Tk * NKV * HS)).map { _ in Float(g.nextGaussian()) }
        let v = (0..<(Tk * NKV * HS)).map { _ in Float(g.nextGaussian()) }
        func run(_ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
            var out = [Float](repeating: 0, count: Tq * NH * HS)
            var probs = [Float](repeating: 0, count: NH * Tq * Tk)
            out.withUnsafeMutableBufferPointer { o in probs.withUnsafeMutableBufferPointer { p in body(o.baseAddress!, p.baseAddress!) } }
            return out
        }
        for window in [1, 3, 6] {
            let fast = run { o, p in slidingAttentionForward(o, p, q, k, v, Tq, Tk, NH, NKV, HS, window: window) }
            let naive = run { o, _ in slidingAttentionForwardNaive(o, q, k, v, Tq, Tk, NH, NKV, HS, window: window) }
            let error = maxAbsDifference(fast.map(Double.init), naive.map(Double.init))
            #expect(error < 1e-5, "window \(window): max |Δ| \(error)")
        }
        let wide = run { o, p in slidingAttentionForward(o, p, q, k, v, Tq, Tk, NH, NKV, HS, window: Tk) }
        let causal = run { o, p in attentionForward(o, p, q, k, v, Tq, Tk, NH, NKV, HS) }
        #expect(wide == causal)
    }

    @Test("configurations without Gemma-3 settings encode without them; Gemma-3 settings round-trip")
    func encoding() throws {
        let llama = ModelConfiguration(architecture: .llama, layerCount: 2, hiddenSize: 64, intermediateSize: 128, headCount: 4,
                                       keyValueHeadCount: 2, vocabularySize: 512, contextLength: 128, normEpsilon: 1e-5,
                                       tiedEmbeddings: false)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(llama), as: UTF8.self)
        #expect(text == #"{"architecture":"llama","attention_bias":false,"context_length":128,"head_count":4,"hidden_size":64,"intermediate_size":128,"key_value_head_count":2,"layer_count":2,"norm_epsilon":1e-05,"rope_theta":10000,"tied_embeddings":false,"vocabulary_size":512}"#)
        let gemma = try ModelLoader.load(url: Fixtures.url("tiny-gemma3")).configuration
        let decoded = try JSONDecoder().decode(ModelConfiguration.self, from: encoder.encode(gemma))
        #expect(decoded == gemma)
    }

    @Test("unsupported Gemma-3 settings are refused with a one-line error naming them")
    func refusals() throws {
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("tiny-gemma3/config.json"))) as? [String: Any] ?? [:]
        let cases: [(String, Any, String)] = [
            ("final_logit_softcapping", 30.0, "final_logit_softcapping"),
            ("attn_logit_softcapping", 50.0, "attn_logit_softcapping"),
            ("hidden_activation", "gelu", "hidden_activation 'gelu'"),
            ("use_bidirectional_attention", true, "use_bidirectional_attention"),
            ("rope_parameters", ["full_attention": ["rope_type": "linear", "factor": 8.0, "rope_theta": 1e6]], "RoPE type 'linear'"),
            ("layer_types", ["chunked_attention"], "layer type 'chunked_attention'"),
        ]
        for (key, value, feature) in cases {
            var config = base
            config[key] = value
            let data = try JSONSerialization.data(withJSONObject: config)
            #expect {
                _ = try ModelConfiguration(huggingFaceJSON: data, file: "config.json")
            } throws: { error in
                let message = (error as? ModelError)?.description ?? ""
                return message.hasPrefix("config.json: unsupported: ") && message.contains(feature) && !message.contains("\n")
            }
        }
    }

    @Test("Gemma-3-270M (when fetched): top-10 logits within 2e-3 of transformers, greedy equal up to the first near-tie",
          .enabled(if: Gemma3Fixture.realModelFetched, "Gemma-3-270M not fetched (scripts/fetch-model --model gemma3-270m)"))
    func realModelGolden() throws {
        let model = try Gemma3Fixture.realModel.get()
        let c = model.configuration
        #expect(c.layerCount == 18 && c.hiddenSize == 640 && c.headDimension == 256 && c.vocabularySize == 262_144)
        #expect(c.gemma3?.slidingLayers == Gemma3Settings.slidingLayers(count: 18, pattern: 6) && c.gemma3?.slidingWindow == 512)
        let prompts = dictionaries(try Fixtures.json("gemma3/golden.json")["prompts"])
        try #require(prompts.count == 12)
        for prompt in prompts {
            let ids = ints(prompt["ids"])
            let text = prompt["text"] as? String ?? "?"
            let last = rowDoubles(model.logits(prompts: [ids], positions: [ids.count - 1]), 0)
            let top = dictionary(prompt["top10"])
            let topIDs = ints(top["ids"])
            try #require(topIDs.count == 10)
            let error = maxAbsDifference(topIDs.map { last[$0] }, doubles(top["logits"]))
            #expect(error < 2e-3, "\(text): top-10 max |Δlogit| \(error)")

            // Greedy tokens must agree until transformers' top two are within the tolerance.
            let expected = ints(prompt["greedy"]), margins = doubles(prompt["greedy_margins"])
            let decisive = margins.firstIndex { $0 < 2e-3 } ?? expected.count
            let greedy = model.generate(prompt: ids, maxNewTokens: expected.count, sampling: SamplingOptions(stopTokenIDs: []))
            #expect(Array(greedy.tokens.prefix(decisive)) == Array(expected.prefix(decisive)), "\(text): greedy continuation")
        }
    }

    @Test("Gemma-3-270M (when fetched): GGUF copy with an edited ffn_down keeps the 235 other tensors and all metadata byte for byte",
          .enabled(if: Gemma3Fixture.realModelFetched, "Gemma-3-270M not fetched (scripts/fetch-model --model gemma3-270m)"))
    func realModelGGUFExport() throws {
        let gguf = try GGUFFile(contentsOf: Gemma3Fixture.realModelURL)
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let name = TensorNaming.mlpOutputWeight(layer: 0)
        let info = try #require(gguf.tensor(named: name))
        #expect(info.type == .q6_K)
        let base = Matrix<Float>(rows: info.shape[0], cols: info.shape[1], values: try gguf.floats(for: info))
        let edited = ExportTestSupport.perturbed(base, seed: 5, scale: 0.05)
        let out = directory.appendingPathComponent("gemma.gguf")
        let report = try CheckpointExport.writeGGUF(source: gguf, overrides: [name: edited], to: out)
        #expect(report.copiedTensorCount == 235)
        let written = try GGUFFile(contentsOf: out)
        #expect(written.metadata.count == gguf.metadata.count)
        for entry in gguf.metadata { #expect(written.value(forKey: entry.key) == entry.value, "\(entry.key)") }
        for original in gguf.tensors where original.name != name {
            let copy = try #require(written.tensor(named: original.name))
            #expect(copy.type == original.type && written.rawData(for: copy) == gguf.rawData(for: original), "\(original.name)")
        }
        let expected = edited.values.map { HalfPrecision.floatFromHalf(HalfPrecision.halfFromFloat($0)) }
        #expect(try written.floats(named: name) == expected)
        // The copy loads as Gemma-3 and its layer 0 is the edited tensor.
        let model = try ModelLoader.load(url: out)
        #expect(model.mlpOutputWeight(layer: 0).values == expected)
    }

    @Test("tiny-gemma3: a safetensors export with an edited ffn_down reloads with the edited model's logits")
    func tinyExportRoundTrip() throws {
        let model = try ModelLoader.load(url: Fixtures.url("tiny-gemma3"))
        let name = TensorNaming.mlpOutputWeight(layer: 2)
        let edited = ExportTestSupport.perturbed(model.mlpOutputWeight(layer: 2), seed: 9, scale: 0.2)
        model.setMLPOutputWeight(layer: 2, edited)
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let folder = directory.appendingPathComponent("export")
        try CheckpointExport.writeHuggingFace(source: Fixtures.url("tiny-gemma3"), overrides: [name: edited], to: folder)
        let reloaded = try ModelLoader.load(url: folder)
        #expect(reloaded.configuration == model.configuration)
        #expect(reloaded.mlpOutputWeight(layer: 2) == edited)
        let prompt = ints(dictionaries(try Fixtures.json("tiny-gemma3/golden.json")["sequences"]).last?["ids"])
        let error = maxAbsDifference(model.logits(prompt: prompt).values.map(Double.init),
                                     reloaded.logits(prompt: prompt).values.map(Double.init))
        // Norm weights go back to Hugging Face's w of (1 + w), which may round in the last bit.
        #expect(error < 1e-5, "export vs edited model max |Δlogit| \(error)")
    }
}
