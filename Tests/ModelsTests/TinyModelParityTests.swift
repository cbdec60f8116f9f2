// Parity of the Llama and GPT-2 runtimes with the golden forward passes of the tiny fixture
// models (Hugging Face transformers, float32), loaded from safetensors+config.json and from GGUF:
// full logits, next-token log-probabilities, hidden-state norms, final-norm vectors and MLP keys.
import Foundation
import Models
import Tensors
import Testing

@Suite("Tiny model parity")
struct TinyModelParityTests {
    static let sources: [(folder: String, file: String)] = [
        ("tiny-gpt2", ""), ("tiny-gpt2", "model.gguf"), ("tiny-llama", ""), ("tiny-llama", "model.gguf"),
        ("tiny-facts-gpt2", ""), ("tiny-facts-gpt2", "model.gguf"),
    ]

    @Test("golden logits, hidden norms and keys", arguments: 0..<6)
    func golden(sourceIndex: Int) throws {
        let source = Self.sources[sourceIndex]
        let model = try ModelLoader.load(url: Fixtures.url(source.folder + "/" + source.file))
        let golden = try Fixtures.json(source.folder + "/golden.json")
        let keyLayers = ints(dictionary(golden["meta"])["key_layers"])
        let sequences = dictionaries(golden["sequences"])
        try #require(sequences.count == 4)
        let V = model.configuration.vocabularySize, L = model.configuration.layerCount
        for (index, sequence) in sequences.enumerated() {
            let ids = ints(sequence["ids"])
            let logits = model.logits(prompt: ids)
            let expected = (sequence["logits"] as? [Any] ?? []).map { doubles($0) }
            try #require(expected.count == ids.count && logits.rows == ids.count && logits.cols == V)
            let logitError = (0..<ids.count).map { maxAbsDifference(rowDoubles(logits, $0), expected[$0]) }.max() ?? 0
            #expect(logitError < 1e-4, "\(source) sequence \(index): max |Δlogit| \(logitError)")

            // next-token log-probabilities through logProbabilities at every position but the last
            let positions = Array(0..<(ids.count - 1))
            let logProbabilities = model.logProbabilities(prompts: positions.map { _ in ids }, positions: positions)
            let chosen = positions.map { Double(logProbabilities[$0, ids[$0 + 1]]) }
            let logProbabilityError = maxAbsDifference(chosen, doubles(sequence["next_token_logprob"]))
            #expect(logProbabilityError < 1e-4, "\(source) sequence \(index): max |Δ log p| \(logProbabilityError)")

            let hidden = model.hiddenStates(prompt: ids)
            let norms = dictionary(sequence["hidden_l2"])
            var worst = maxRelativeDifference(rowNorms(hidden.embeddings), doubles(norms["embeddings"]))
            for layer in 0..<L {
                worst = max(worst, maxRelativeDifference(rowNorms(hidden.afterLayer[layer]), doubles(norms["after_layer_\(layer)"])))
            }
            worst = max(worst, maxRelativeDifference(rowNorms(hidden.finalNorm), doubles(norms["final_norm"])))
            #expect(worst < 1e-5, "\(source) sequence \(index): max relative Δ hidden norm \(worst)")

            let last = dictionary(sequence["hidden_last"])
            let finalError = maxAbsDifference(rowDoubles(hidden.finalNorm, ids.count - 1), doubles(last["final_norm"]))
            #expect(finalError < 1e-4, "\(source) sequence \(index): final norm max |Δ| \(finalError)")

            let keys = dictionary(sequence["mlp_key_last"])
            for layer in keyLayers {
                let key = model.keys(prompts: [ids], positions: [ids.count - 1], layer: layer)
                let keyError = maxAbsDifference(rowDoubles(key, 0), doubles(keys["layer_\(layer)"]))
                #expect(keyError < 1e-4, "\(source) sequence \(index) layer \(layer): key max |Δ| \(keyError)")
                let residual = model.residuals(prompts: [ids], positions: [ids.count - 1], layer: layer)
                let residualError = maxRelativeDifference([l2(residual.values[...])], [doubles(norms["after_layer_\(layer)"]).last ?? .nan])
                #expect(residualError < 1e-5, "\(source) sequence \(index) layer \(layer): residual norm rel Δ \(residualError)")
            }
        }
    }

    @Test("a batch of prompts of different lengths gives each prompt's own logits")
    func batchedMatchesSingle() throws {
        for folder in ["tiny-llama", "tiny-gpt2"] {
            let model = try ModelLoader.load(url: Fixtures.url(folder))
            let golden = try Fixtures.json(folder + "/golden.json")
            let prompts = dictionaries(golden["sequences"]).map { ints($0["ids"]) }
            let positions = prompts.map { $0.count / 2 }
            let batched = model.logits(prompts: prompts, positions: positions)
            var worst = 0.0
            for (i, prompt) in prompts.enumerated() {
                let single = model.logits(prompt: prompt)
                worst = max(worst, maxAbsDifference(rowDoubles(batched, i), rowDoubles(single, positions[i])))
            }
            #expect(worst < 1e-5, "\(folder): batched vs single max |Δlogit| \(worst)")
        }
    }

    @Test("tiny-facts-gpt2 knows its facts: teacher-forced target log-probabilities")
    func factLogProbabilities() throws {
        let model = try ModelLoader.load(url: Fixtures.url("tiny-facts-gpt2/model.gguf"))
        let golden = try Fixtures.json("tiny-facts-gpt2/golden.json")
        var prompts: [[Int]] = [], positions: [Int] = [], targets: [Int] = [], expected: [Double] = []
        for fact in dictionaries(golden["per_fact"]).prefix(40) {
            let rewrite = dictionary(fact["rewrite"])
            let prompt = ints(rewrite["prompt_ids"]), target = ints(rewrite["target_ids"])
            let input = prompt + target.dropLast()
            for (j, token) in target.enumerated() {
                prompts.append(input)
                positions.append(prompt.count - 1 + j)
                targets.append(token)
            }
            expected += doubles(rewrite["target_logprobs"])
        }
        let logProbabilities = model.logProbabilities(prompts: prompts, positions: positions)
        let actual = targets.enumerated().map { Double(logProbabilities[$0.offset, $0.element]) }
        let error = maxAbsDifference(actual, expected)
        #expect(error < 1e-4, "max |Δ log p(target)| \(error) over \(targets.count) target tokens")
    }
}
