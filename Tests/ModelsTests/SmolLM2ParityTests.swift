// Parity of the Llama runtime on the default model (SmolLM2-135M-Instruct, Q4_1 GGUF, dequantized)
// with Hugging Face transformers' float32 forward passes in smollm2/logits.json: top logits,
// log-softmax values, hidden-state norms, MLP keys, greedy continuations (KV cache), with and
// without BOS. Token ids come from the fixture, not from the tokenizer.
import Foundation
import Models
import Tensors
import Testing

@Suite("SmolLM2 parity")
struct SmolLM2ParityTests {
    static func prompts() throws -> [[String: Any]] {
        dictionaries(try Fixtures.json("smollm2/logits.json")["prompts"])
    }

    @Test("configuration read from the GGUF metadata")
    func configuration() throws {
        let c = try SharedModels.smol().configuration
        #expect(c == ModelConfiguration(architecture: .llama, layerCount: 30, hiddenSize: 576, intermediateSize: 1536,
                                        headCount: 9, keyValueHeadCount: 3, vocabularySize: 49152, contextLength: 8192,
                                        normEpsilon: Float(9.999999747378752e-06), ropeTheta: 100000,
                                        tiedEmbeddings: true, attentionBias: false))
        #expect(try SharedModels.smol().eosTokenID == 2)
    }

    @Test("top-10 logits, log-softmax, logit-vector statistics and argmax at every position")
    func logits() throws {
        let model = try SharedModels.smol()
        for prompt in try Self.prompts() {
            let ids = ints(prompt["ids"])
            let text = prompt["text"] as? String ?? "?"
            let all = model.logits(prompt: ids)
            let last = rowDoubles(all, ids.count - 1)
            let top = dictionaries(prompt["top20"]).prefix(10)
            try #require(top.count == 10)
            let topError = maxAbsDifference(top.map { last[ints([$0["id"]!])[0]] }, top.map { number($0["logit"]) })
            #expect(topError < 2e-3, "\(text): top-10 max |Δlogit| \(topError)")

            let lse = logSumExp(last)
            for entry in dictionaries(prompt["log_softmax"]) {
                let id = ints([entry["id"]!])[0]
                let error = abs(last[id] - lse - number(entry["value"]))
                #expect(error < 2e-4, "\(text): log-softmax of \(id) off by \(error)")
            }
            let l2Error = abs((last.reduce(0) { $0 + $1 * $1 }).squareRoot() - number(prompt["logits_last_l2"]))
            #expect(l2Error / number(prompt["logits_last_l2"]) < 1e-4, "\(text): logit L2 off by \(l2Error)")

            let argmax = (0..<ids.count).map { row in
                let values = rowDoubles(all, row)
                return values.indices.max { values[$0] < values[$1] } ?? -1
            }
            #expect(argmax == ints(prompt["argmax_all_positions"]), "\(text): argmax at every position")
        }
    }

    @Test("hidden-state norms after layers 0, 4, 15, 29, embeddings and final norm")
    func hiddenNorms() throws {
        let model = try SharedModels.smol()
        for prompt in try Self.prompts() {
            let ids = ints(prompt["ids"])
            let text = prompt["text"] as? String ?? "?"
            let hidden = model.hiddenStates(prompt: ids)
            var worst = maxRelativeDifference(rowNorms(hidden.embeddings), doubles(prompt["embedding_l2"]))
            for (key, values) in dictionary(prompt["hidden_l2"]) {
                let layer = try #require(Int(key.replacingOccurrences(of: "after_layer_", with: "")))
                worst = max(worst, maxRelativeDifference(rowNorms(hidden.afterLayer[layer]), doubles(values)))
            }
            worst = max(worst, maxRelativeDifference(rowNorms(hidden.finalNorm), doubles(prompt["final_norm_l2"])))
            #expect(worst < 1e-3, "\(text): max relative Δ hidden norm \(worst)")
            #expect(dictionary(prompt["hidden_l2"]).count == 4)
        }
    }

    @Test("MLP keys at the subject's last token, layers 3, 4 and 5")
    func keys() throws {
        let model = try SharedModels.smol()
        var checked = 0
        for prompt in try Self.prompts() {
            let ids = ints(prompt["ids"])
            for (key, value) in dictionary(prompt["mlp_down_proj_input"]) {
                let layer = try #require(Int(key.replacingOccurrences(of: "layer_", with: "")))
                let entry = dictionary(value)
                let position = ints([entry["position"]!])[0]
                #expect(position == ints([dictionary(prompt["subject_last_token"])["index"]!])[0])
                let actual = model.keys(prompts: [ids], positions: [position], layer: layer)
                let error = maxAbsDifference(rowDoubles(actual, 0), doubles(entry["values"]))
                #expect(error < 1e-4, "\(prompt["text"] ?? "?") layer \(layer): key max |Δ| \(error)")
                let norm = l2(actual.values[...])
                #expect(abs(norm - number(entry["l2"])) / number(entry["l2"]) < 1e-4)
                checked += 1
            }
        }
        #expect(checked == 6)
        // All layers at once, as the preservation statistics ask for them.
        let prompt = ints(try Self.prompts()[1]["ids"])
        let all = model.keysAtAllPositions(prompts: [prompt, prompt], layers: [3, 5])
        let single = model.keys(prompts: [prompt], positions: [8], layer: 5)
        let allFive = try #require(all[5])
        #expect(allFive.rows == 2 * prompt.count && all[3]?.rows == 2 * prompt.count)
        let error = maxAbsDifference(rowDoubles(allFive, prompt.count + 8), rowDoubles(single, 0))
        #expect(error < 1e-5, "keysAtAllPositions vs keys: \(error)")
    }

    @Test("with BOS prepended: top-10 logits, log-softmax, last hidden norm")
    func withBOS() throws {
        let model = try SharedModels.smol()
        for prompt in try Self.prompts() {
            let bos = dictionary(prompt["with_bos"])
            let ids = ints(bos["ids"])
            #expect(ids.first == 1)
            let last = rowDoubles(model.logits(prompts: [ids], positions: [ids.count - 1]), 0)
            let top = dictionaries(bos["top20"]).prefix(10)
            let topError = maxAbsDifference(top.map { last[ints([$0["id"]!])[0]] }, top.map { number($0["logit"]) })
            #expect(topError < 2e-3, "\(prompt["text"] ?? "?") with BOS: top-10 max |Δlogit| \(topError)")
            let lse = logSumExp(last)
            for entry in dictionaries(bos["log_softmax"]) {
                let error = abs(last[ints([entry["id"]!])[0]] - lse - number(entry["value"]))
                #expect(error < 2e-4, "with BOS: log-softmax off by \(error)")
            }
            let hidden = model.hiddenStates(prompt: ids)
            let expectedNorms = dictionary(bos["hidden_last_l2"])
            #expect(expectedNorms.count == 4)
            for (key, value) in expectedNorms {
                let layer = try #require(Int(key.replacingOccurrences(of: "after_layer_", with: "")))
                let norm = rowNorms(hidden.afterLayer[layer]).last ?? .nan
                #expect(abs(norm - number(value)) / number(value) < 1e-3, "with BOS, \(key): \(norm) vs \(number(value))")
            }
            let finalNorm = rowNorms(hidden.finalNorm).last ?? .nan
            #expect(abs(finalNorm - number(bos["final_norm_last_l2"])) / number(bos["final_norm_last_l2"]) < 1e-3)
        }
    }

    @Test("greedy continuations with the KV cache, token by token while the top-2 margin exceeds 1e-2")
    func greedy() throws {
        let model = try SharedModels.smol()
        for prompt in try Self.prompts() {
            let greedy = dictionary(prompt["greedy"])
            let expected = ints(greedy["ids"])
            let margins = doubles(greedy["top2_margins"])
            let generation = model.generate(prompt: ints(prompt["ids"]), maxNewTokens: ints([greedy["max_new_tokens"]!])[0])
            var compared = 0
            for (i, token) in expected.enumerated() {
                guard i < margins.count, margins[i] > 1e-2 else { break }
                #expect(i < generation.tokens.count && generation.tokens[i] == token,
                        "\(prompt["text"] ?? "?"): step \(i) gave \(i < generation.tokens.count ? generation.tokens[i] : -1), expected \(token)")
                compared += 1
            }
            #expect(compared > 0)
            if margins.allSatisfy({ $0 > 1e-2 }) {
                #expect(generation.tokens == expected)
                #expect(generation.stoppedAtStopToken == (greedy["stopped_at_eos"] as? Bool ?? false))
            }
        }
    }
}

func logSumExp(_ values: [Double]) -> Double {
    let m = values.max() ?? 0
    return m + Foundation.log(values.reduce(0) { $0 + Foundation.exp($1 - m) })
}
