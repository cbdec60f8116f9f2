// Batched teacher-forced scoring of targets after prompts, and batched greedy continuation:
// the two model queries evaluation needs. Every row a target token needs is "the next-token
// distribution after this prefix"; a target's rows are read from one pass over its prompt and
// the target before its last token, a prefix already run (a prompt shared by target_new and
// target_true, by several facts) is read where it ran, and passes are packed into forwards of
// bounded size with the LM head applied at the rows read only. Not here: which prompts and
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
    /// `progress(done, total)` counts the passes run.
    public func score(model: EditableModel, queries: [ScoringQuery],
                      progress: ((Int, Int) -> Void)? = nil) -> [TargetScore] {
        // Each query reads the rows of one sequence, prompt + target without its last token; a
        // prefix some planned sequence already runs (a prompt shared by target_new and
        // target_true, by several facts) is read from that sequence instead.
        var readAt: [[Int]: (sequence: Int, position: Int)] = [:]
        var sequences: [[Int]] = []
        var slotSources: [(sequence: Int, position: Int, token: Int)] = []
        var slotsOfQuery: [Range<Int>] = []
        for query in queries {
            precondition(!query.prompt.isEmpty && !query.target.isEmpty, "scoring needs a prompt and a target")
            let sequence = query.prompt + query.target.dropLast()
            let prefixes = (query.prompt.count...sequence.count).map { Array(sequence[..<$0]) }   // one per target token
            if prefixes.contains(where: { readAt[$0] == nil }) {
                let index = sequences.count
                sequences.append(sequence)
                for prefix in prefixes where readAt[prefix] == nil { readAt[prefix] = (index, prefix.count - 1) }
            }
            let first = slotSources.count
            for (prefix, token) in zip(prefixes, query.target) {
                guard let source = readAt[prefix] else { preconditionFailure("every prefix of a query is planned") }
                slotSources.append((source.sequence, source.position, token))
            }
            slotsOfQuery.append(first..<slotSources.count)
        }
        readAt.removeAll()

        // The positions each sequence is read at, and the slots each (sequence, position) fills.
        var positions = [[Int]](repeating: [], count: sequences.count)
        var slotsAt: [[Int: [Int]]] = Array(repeating: [:], count: sequences.count)
        for (slot, source) in slotSources.enumerated() {
            if slotsAt[source.sequence][source.position] == nil { positions[source.sequence].append(source.position) }
            slotsAt[source.sequence][source.position, default: []].append(slot)
        }
        var logProbability = [Double](repeating: 0, count: slotSources.count)
        var isTop1 = [Bool](repeating: false, count: slotSources.count)
        forEachBatch(sequences, positions: positions, model: model) { range, distributions in
            distributions.values.withUnsafeBufferPointer { p in
                let V = distributions.cols
                var row = 0
                for sequence in range {
                    for position in positions[sequence] {
                        let base = p.baseAddress! + row * V
                        let best = Self.argmax(base, V)
                        for slot in slotsAt[sequence][position] ?? [] {
                            let token = slotSources[slot].token
                            logProbability[slot] = Double(base[token])
                            isTop1[slot] = token == best
                        }
                        row += 1
                    }
                }
            }
            progress?(range.upperBound, sequences.count)
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

    /// Runs the next-token distributions of `sequences` at `positions[i]` of sequence i in packed
    /// batches, calling `body(sequences, distributions)` with the index range of each batch and
    /// its log-probabilities, a row per position, sequence after sequence.
    func forEachBatch(_ sequences: [[Int]], positions: [[Int]], model: EditableModel,
                      _ body: (Range<Int>, Matrix<Float>) -> Void) {
        var start = 0
        while start < sequences.count {
            var end = start
            var tokens = 0, rows = 0
            while end < sequences.count, end == start || (rows + positions[end].count <= maxRowsPerForward
                                                          && tokens + sequences[end].count <= maxTokensPerForward) {
                tokens += sequences[end].count
                rows += positions[end].count
                end += 1
            }
            body(start..<end, model.logProbabilities(prompts: Array(sequences[start..<end]),
                                                     positionsPerPrompt: Array(positions[start..<end])))
            start = end
        }
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
