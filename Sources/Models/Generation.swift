// Token-by-token continuation with a KV cache, shared by both architectures: the prompt is run
// once, then each new token attends over the cached keys and values. Greedy by default;
// temperature and top-k sampling draw from a SeededGenerator, so a seed fixes the output.
import Foundation
import Tensors

extension DecoderStack {
    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeGenerate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions) -> Generation {
        checkPrompts([prompt])
        precondition(maxNewTokens >= 0, "negative token budget")
        let V = configuration.vocabularySize, C = configuration.hiddenSize
        let capacity = min(prompt.count + maxNewTokens, configuration.contextLength)
        let cache = KVCache<S>(configuration: configuration, capacity: capacity)
        let stops = Set(sampling.stopTokenIDs ?? eosTokenID.map { [$0] } ?? [])
        var generator = SeededGenerator(seed: sampling.seed)
        var result = Generation(tokens: [], stoppedAtStopToken: false, logProbabilities: [], topLogProbabilities: [])
        var pending = prompt
        var logProbabilities = [Double](repeating: 0, count: V)

        var length = 0
        while result.tokens.count < maxNewTokens, length + pending.count <= capacity {
            let context = ForwardContext<S>(rows: [pending], startPositions: [length], cache: cache,
                                            cacheStarts: [0], cacheLengths: [length])
            let x = forwardBlocks(context, through: configuration.layerCount - 1)
            length += pending.count
            let logits = headForward(x.pointer + (pending.count - 1) * C, 1)   // (1, V)

            var maxValue = -Double.infinity
            var best = 0
            for v in 0..<V where Double(logits.pointer[v]) > maxValue { maxValue = Double(logits.pointer[v]); best = v }
            var sum = 0.0
            for v in 0..<V { sum += Foundation.exp(Double(logits.pointer[v]) - maxValue) }
            let lse = maxValue + Foundation.log(sum)
            for v in 0..<V { logProbabilities[v] = Double(logits.pointer[v]) - lse }

            let token = sampling.temperature > 0
                ? sample(logProbabilities, temperature: Double(sampling.temperature), topK: sampling.topK, &generator)
                : best
            result.tokens.append(token)
            result.logProbabilities.append(Float(logProbabilities[token]))
            if sampling.topLogProbabilityCount > 0 {
                let top = Self.largest(logProbabilities, count: sampling.topLogProbabilityCount)
                result.topLogProbabilities.append(top.map { TokenLogProbability(tokenID: $0, logProbability: Float(logProbabilities[$0])) })
            }
            if stops.contains(token) {
                result.stoppedAtStopToken = true
                break
            }
            pending = [token]
        }
        return result
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeExtend(prompts: [[Int]], budgets: [Int], choose: (Int, [Float]) -> Int) -> [[Int]] {
        checkPrompts(prompts)
        precondition(budgets.count == prompts.count, "\(budgets.count) budgets for \(prompts.count) prompts")
        let V = configuration.vocabularySize, C = configuration.hiddenSize
        // Each sequence's cache rows: its prompt and every token it may add (the last added token
        // is never run, so one row fewer would do; the simpler bound costs a row per sequence).
        let capacities = zip(prompts, budgets).map { min($0.count + max($1, 0), configuration.contextLength) }
        var starts: [Int] = []
        var total = 0
        for capacity in capacities {
            starts.append(total)
            total += capacity
        }
        let cache = KVCache<S>(configuration: configuration, capacity: max(total, 1))
        var sequences = prompts
        var lengths = [Int](repeating: 0, count: prompts.count)        // rows already in the cache
        var pending = prompts                                           // rows to run next
        var added = [Int](repeating: 0, count: prompts.count)
        var logProbabilities = [Float](repeating: 0, count: V)
        while true {
            let active = prompts.indices.filter { added[$0] < budgets[$0] && sequences[$0].count < capacities[$0] }
            if active.isEmpty { break }
            let context = ForwardContext<S>(rows: active.map { pending[$0] }, startPositions: active.map { lengths[$0] },
                                            cache: cache, cacheStarts: active.map { starts[$0] },
                                            cacheLengths: active.map { lengths[$0] })
            let x = forwardBlocks(context, through: configuration.layerCount - 1)
            let last = gather(x.pointer, width: C, rows: context.segments.map { $0.upperBound - 1 })
            let logits = headForward(last.pointer, active.count)                      // (active, V)
            for (r, i) in active.enumerated() {
                let row = logits.pointer + r * V
                logSoftmaxForward(row, row, V)
                for v in 0..<V { logProbabilities[v] = Float(row[v]) }
                lengths[i] += pending[i].count
                let token = choose(i, logProbabilities)
                sequences[i].append(token)
                pending[i] = [token]
                added[i] += 1
            }
        }
        return sequences
    }

    /// Indices of the `count` largest values, largest first (ties: lower index first).
    static func largest(_ values: [Double], count: Int) -> [Int] {
        let order = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
        return Array(order.prefix(count))
    }

    private func sample(_ logProbabilities: [Double], temperature: Double, topK: Int,
                        _ generator: inout SeededGenerator) -> Int {
        let candidates = topK > 0 ? Self.largest(logProbabilities, count: topK) : Array(logProbabilities.indices)
        let maxValue = candidates.map { logProbabilities[$0] }.max() ?? 0
        let weights = candidates.map { Foundation.exp((logProbabilities[$0] - maxValue) / temperature) }
        let total = weights.reduce(0, +)
        var u = generator.nextUnitDouble() * total
        for (i, w) in weights.enumerated() {
            u -= w
            if u < 0 { return candidates[i] }
        }
        return candidates[candidates.count - 1]
    }
}
