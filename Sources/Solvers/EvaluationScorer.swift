// Batched teacher-forced scoring of targets after prompts, and batched greedy continuation:
// the two model queries evaluation needs. Every row a target token needs is "the next-token
// distribution after this prefix", so identical prefixes (a prompt shared by target_new and
// target_true, by several facts) are run once, and rows are packed into forwards of bounded
// size with the LM head applied at one position per row only. Not here: which prompts and
// targets a benchmark asks for (CounterFactEvaluation) or how results are summarised.
import Foundation
import Models
import Tensors

/// One target to score: `target` teacher-forced after `prompt` (token ids, BOS already in place).
public struct ScoringQuery: Sendable, Hashable {
    public var prompt: [Int]
    public var target: [Int]
    public init(prompt: [Int], target: [Int]) {
        self.prompt = prompt
        self.target = target
    }
}

/// The teacher-forced score of one target.
public struct TargetScore: Sendable, Equatable {
    /// log p of each target token given the prompt and the target tokens before it.
    public var tokenLogProbabilities: [Double]
    /// Whether every target token is the argmax of its next-token distribution.
    public var allTop1: Bool

    public init(tokenLogProbabilities: [Double], allTop1: Bool) {
        self.tokenLogProbabilities = tokenLogProbabilities
        self.allTop1 = allTop1
    }

    /// The mean per-token negative log-likelihood (ROME's and MEMIT's measure).
    public var meanNLL: Double {
        -tokenLogProbabilities.reduce(0, +) / Double(max(tokenLogProbabilities.count, 1))
    }

    /// exp(−mean NLL): the geometric mean of the token probabilities.
    public var probability: Double { exp(-meanNLL) }
}

/// Runs scoring queries in packed batches.
public struct EvaluationScorer: Sendable {
    /// Largest number of tokens packed into one forward pass.
    public var maxTokensPerForward: Int
    /// Largest number of rows (prompts) per forward; bounds the rows × vocabulary output.
    public var maxRowsPerForward: Int

    public init(maxTokensPerForward: Int = 2048, maxRowsPerForward: Int = 256) {
        precondition(maxTokensPerForward > 0 && maxRowsPerForward > 0, "empty batch limits")
        self.maxTokensPerForward = maxTokensPerForward
        self.maxRowsPerForward = maxRowsPerForward
    }

    /// Teacher-forced scores of every query, in order. Each prompt must be non-empty and
    /// `prompt.count + target.count − 1` must fit the model's context (programmer errors).
    /// `progress(done, total)` counts distinct prefixes run.
    public func score(model: EditableModel, queries: [ScoringQuery],
                      progress: ((Int, Int) -> Void)? = nil) -> [TargetScore] {
        // Distinct prefixes, and per query token the (row, token) it reads.
        var rowOfPrefix: [[Int]: Int] = [:]
        var prefixes: [[Int]] = []
        var wanted: [[(slot: Int, token: Int)]] = []   // per row
        var slotsOfQuery: [Range<Int>] = []
        var slotCount = 0
        for query in queries {
            precondition(!query.prompt.isEmpty && !query.target.isEmpty, "scoring needs a prompt and a target")
            let first = slotCount
            var prefix = query.prompt
            for token in query.target {
                let row: Int
                if let existing = rowOfPrefix[prefix] {
                    row = existing
                } else {
                    row = prefixes.count
                    rowOfPrefix[prefix] = row
                    prefixes.append(prefix)
                    wanted.append([])
                }
                wanted[row].append((slotCount, token))
                slotCount += 1
                prefix.append(token)
            }
            slotsOfQuery.append(first..<slotCount)
        }
        rowOfPrefix.removeAll()

        var logProbability = [Double](repeating: 0, count: slotCount)
        var isTop1 = [Bool](repeating: false, count: slotCount)
        forEachBatch(prefixes, model: model) { rows, distributions in
            distributions.values.withUnsafeBufferPointer { p in
                let V = distributions.cols
                for (r, row) in rows.enumerated() {
                    let base = p.baseAddress! + r * V
                    let best = Self.argmax(base, V)
                    for (slot, token) in wanted[row] {
                        logProbability[slot] = Double(base[token])
                        isTop1[slot] = token == best
                    }
                }
            }
            progress?(rows.upperBound, prefixes.count)
        }
        return slotsOfQuery.map { slots in
            TargetScore(tokenLogProbabilities: Array(logProbability[slots]), allTop1: isTop1[slots].allSatisfy { $0 })
        }
    }

    /// Greedy continuations of `prompts` by up to `tokenCount` tokens each: the argmax (lowest id
    /// on ties, as `generate` picks) of the next-token distribution, step by step. A continuation
    /// ends early at `stopTokenID` (which is included) or when the context is full.
    public func greedyContinuations(model: EditableModel, prompts: [[Int]], tokenCount: Int,
                                    stopTokenID: Int? = nil) -> [[Int]] {
        precondition(prompts.allSatisfy { !$0.isEmpty }, "greedy continuation of an empty prompt")
        let context = model.configuration.contextLength
        var sequences = prompts
        var continuations = [[Int]](repeating: [], count: prompts.count)
        var active = Array(prompts.indices)
        for _ in 0..<tokenCount where !active.isEmpty {
            var next: [(index: Int, token: Int)] = []
            forEachBatch(active.map { sequences[$0] }, model: model) { rows, distributions in
                distributions.values.withUnsafeBufferPointer { p in
                    for (r, row) in rows.enumerated() {
                        next.append((active[row], Self.argmax(p.baseAddress! + r * distributions.cols, distributions.cols)))
                    }
                }
            }
            for (index, token) in next {
                continuations[index].append(token)
                sequences[index].append(token)
            }
            // A sequence can be continued while it still fits the context as input.
            active = active.filter { continuations[$0].last != stopTokenID && sequences[$0].count <= context }
        }
        return continuations
    }

    /// Runs the last-position next-token distributions of `prompts` in packed batches, calling
    /// `body(rows, distributions)` with the index range of each batch and its (rows × V) log-probabilities.
    func forEachBatch(_ prompts: [[Int]], model: EditableModel, _ body: (Range<Int>, Matrix<Float>) -> Void) {
        var start = 0
        while start < prompts.count {
            var end = start
            var tokens = 0
            while end < prompts.count, end - start < maxRowsPerForward,
                  end == start || tokens + prompts[end].count <= maxTokensPerForward {
                tokens += prompts[end].count
                end += 1
            }
            let batch = Array(prompts[start..<end])
            let distributions = model.logProbabilities(prompts: batch, positions: batch.map { $0.count - 1 })
            body(start..<end, distributions)
            start = end
        }
    }

    /// The first index of the largest value (NaN never wins).
    static func argmax(_ values: UnsafePointer<Float>, _ count: Int) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<count where values[i] > bestValue {
            bestValue = values[i]
            best = i
        }
        return best
    }
}
