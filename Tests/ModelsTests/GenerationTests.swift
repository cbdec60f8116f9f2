// KV-cache generation: greedy equals the plain argmax loop, seeded sampling is deterministic,
// stop tokens and the context limit end generation, top-k log-probabilities are reported.
import Foundation
import Models
import Tensors
import Testing

@Suite("Generation")
struct GenerationTests {
    static let prompt = [318, 278, 272, 263, 76, 73, 80]

    @Test("greedy with the KV cache equals the no-cache argmax loop", arguments: ["tiny-llama", "tiny-gpt2/model.gguf", "tiny-gemma3"])
    func greedyMatchesLoop(path: String) throws {
        let model = try ModelLoader.load(url: Fixtures.url(path))
        let generation = model.generate(prompt: Self.prompt, maxNewTokens: 12,
                                        sampling: SamplingOptions(stopTokenIDs: [], topLogProbabilityCount: 3))
        var sequence = Self.prompt
        var expectedLogProbabilities: [Double] = []
        for _ in 0..<12 {
            let logProbabilities = model.logProbabilities(prompts: [sequence], positions: [sequence.count - 1]).row(0)
            let next = logProbabilities.indices.max { logProbabilities[$0] < logProbabilities[$1] } ?? -1
            expectedLogProbabilities.append(Double(logProbabilities[next]))
            sequence.append(next)
        }
        #expect(generation.tokens == Array(sequence.dropFirst(Self.prompt.count)))
        #expect(!generation.stoppedAtStopToken)
        let error = maxAbsDifference(generation.logProbabilities.map(Double.init), expectedLogProbabilities)
        #expect(error < 1e-5, "chosen log p max |Δ| \(error)")
        #expect(generation.topLogProbabilities.count == 12)
        for (step, top) in generation.topLogProbabilities.enumerated() {
            #expect(top.count == 3)
            #expect(top.first?.tokenID == generation.tokens[step])
            #expect(zip(top, top.dropFirst()).allSatisfy { $0.logProbability >= $1.logProbability })
        }
    }

    @Test("seeded sampling is deterministic; top-k 1 is greedy; seeds differ")
    func sampling() throws {
        let model = try ModelLoader.load(url: Fixtures.url("tiny-llama/model.gguf"))
        let options = SamplingOptions(temperature: 1.5, topK: 50, seed: 42, stopTokenIDs: [])
        let first = model.generate(prompt: Self.prompt, maxNewTokens: 16, sampling: options)
        let second = model.generate(prompt: Self.prompt, maxNewTokens: 16, sampling: options)
        #expect(first.tokens == second.tokens && first.tokens.count == 16)
        var other = options
        other.seed = 43
        #expect(model.generate(prompt: Self.prompt, maxNewTokens: 16, sampling: other).tokens != first.tokens)
        let greedy = model.generate(prompt: Self.prompt, maxNewTokens: 16, sampling: SamplingOptions(stopTokenIDs: []))
        let topOne = model.generate(prompt: Self.prompt, maxNewTokens: 16,
                                    sampling: SamplingOptions(temperature: 1, topK: 1, seed: 1, stopTokenIDs: []))
        #expect(greedy.tokens == topOne.tokens)
    }

    @Test("a stop token ends generation after it is emitted; the context length caps it")
    func stopping() throws {
        let model = try ModelLoader.load(url: Fixtures.url("tiny-gpt2"))
        let free = model.generate(prompt: Self.prompt, maxNewTokens: 8, sampling: SamplingOptions(stopTokenIDs: []))
        try #require(free.tokens.count == 8)
        let stop = free.tokens[3]
        let firstStop = try #require(free.tokens.firstIndex(of: stop))
        let stopped = model.generate(prompt: Self.prompt, maxNewTokens: 8, sampling: SamplingOptions(stopTokenIDs: [stop]))
        #expect(stopped.tokens == Array(free.tokens.prefix(firstStop + 1)))
        #expect(stopped.stoppedAtStopToken)

        let context = model.configuration.contextLength
        let long = (0..<(context - 2)).map { 1 + $0 % 200 }
        let capped = model.generate(prompt: long, maxNewTokens: 10, sampling: SamplingOptions(stopTokenIDs: []))
        #expect(capped.tokens.count == 3, "generated \(capped.tokens.count) tokens from \(long.count) of \(context)")
        let expected = model.logits(prompt: long + capped.tokens.dropLast()).row(context - 1)
        let last = expected.indices.max { expected[$0] < expected[$1] }
        #expect(capped.tokens.last == last)
    }
}
