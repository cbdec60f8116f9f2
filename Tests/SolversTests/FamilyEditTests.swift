// Editing works on every model family: one fact by MEMIT and by ROME through EditPlanner on each
// tiny random checkpoint (Llama, GPT-2, Mistral with its sliding window, Llama-3 scaling, Qwen2,
// Phi-3, GPT-J, Gemma-3 with its post-feedforward norm), statistics from the tiny-facts sentences. The target's probability must rise, and
// the edited MLP outputs written as a Hugging Face export must reload to the edited model's logits.
import Foundation
import Models
import Tensors
import Testing
@testable import Solvers

@Suite("Edits on every model family", .serialized)
struct FamilyEditTests {
    static let folders = ["tiny-llama", "tiny-gpt2", "tiny-mistral", "tiny-llama3", "tiny-qwen2", "tiny-phi3", "tiny-gptj", "tiny-gemma3"]
    /// The subject ends next to the prompt's end, so that a window of 4 still sees it from every target position.
    static let request = EditRequest(subject: "The Eiffel Tower", prompt: "{} is", targetNew: "Rome")

    @Test("an edit raises the target's probability and its export reloads to the same logits",
          arguments: folders, [EditMethod.memit, .rome])
    func edit(folder: String, method: EditMethod) throws {
        let url = testsFolder.appendingPathComponent("Fixtures/" + folder)
        let model = try ModelLoader.load(url: url)
        let tokenizer = try Tokenizer(tokenizerJSON: url.appendingPathComponent("tokenizer.json"))
        var h = EditHyperparameters.defaults(for: model.configuration, method: method)
        // δ must be carried to the prompt's last position by the attention of a block above the
        // edit layer; the default rule would edit block 1, the last of the 2-block models.
        h.layers = [0]
        // As the tiny-facts-gpt2 profile: few statistics tokens, so a small λ; a looser clamp.
        h.statisticsTokenCount = 4000
        h.preservationWeight = 1
        h.clampNormFactor = max(h.clampNormFactor, 2)
        h.vSteps = 40
        let stats = try StatisticsCollector.collect(
            model: model, tokenizer: tokenizer, corpus: try CorpusReader(paths: [try SolverFixtures.tinyFactsCorpus().path]),
            layers: h.layers, tokenCount: h.statisticsTokenCount, sequenceLength: h.statisticsSequenceLength)
        let result = try EditPlanner.computeEdit(model: model, tokenizer: tokenizer, requests: [Self.request], method: method,
                                                 hyperparameters: h, statistics: stats, apply: true)
        let fact = try #require(result.facts.first)
        print("\(folder) \(method.rawValue): log p(target) \(fact.logProbabilityBefore) → \(fact.logProbabilityAfter)")
        // Measured: +1.0 (tiny-llama ROME) to +7.1 nats (tiny-mistral MEMIT) over the 3 target tokens.
        #expect(fact.logProbabilityAfter > fact.logProbabilityBefore + 0.5,
                "\(folder) \(method): log p(target) \(fact.logProbabilityBefore) → \(fact.logProbabilityAfter)")

        var overrides: [String: Matrix<Float>] = [:]
        for layer in h.sortedLayers { overrides[TensorNaming.mlpOutputWeight(layer: layer)] = model.mlpOutputWeight(layer: layer) }
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-family-edit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: destination) }
        try CheckpointExport.writeHuggingFace(source: url, overrides: overrides, to: destination)
        let reloaded = try ModelLoader.load(url: destination)
        let prompt = try FactTokenization.prompt(Self.request, tokenizer: tokenizer).ids
        let edited = model.logits(prompt: prompt).values, exported = reloaded.logits(prompt: prompt).values
        let difference = zip(edited, exported).map { abs(Double($0) - Double($1)) }.max() ?? .infinity
        #expect(difference < 1e-5, "\(folder) \(method): max |Δlogit| edited model vs reloaded export \(difference)")
        let after = EditPlanner.scoreTargets(model: reloaded, prompts: [prompt], targets: [fact.targetTokenIDs])
        #expect(abs((after.first?.logProbability ?? .nan) - fact.logProbabilityAfter) < 1e-4)
    }

    @Test("a GPT-J-6B-shaped model gets the published MEMIT layers 3–8")
    func gptjDefaults() {
        let configuration = ModelConfiguration(architecture: .gptj, layerCount: 28, hiddenSize: 4096, intermediateSize: 16384,
                                               headCount: 16, keyValueHeadCount: 16, vocabularySize: 50400, contextLength: 2048,
                                               normEpsilon: 1e-5, tiedEmbeddings: false, rotaryDimension: 64)
        let h = EditHyperparameters.defaults(for: configuration, method: .memit)
        #expect(h.layers == [3, 4, 5, 6, 7, 8] && h.preservationWeight == 15000 && h.vWeightDecay == 0.5)
    }
}
