// Context prefixes for keys and target values, sampled from the unedited model as ROME/MEMIT do:
// short continuations of seed words ("The", "Therefore", …) by top-k sampling, each followed by
// ". " so the fact's prompt starts a new sentence. Seeded, and run as one batch with a KV cache
// (`EditableModel.extend`), so the same model and seed give the same strings; the strings are
// what a commit stores. Not a general text generator.
import Foundation
import Models
import Tensors

/// Samples context prefixes.
public enum ContextPrefixSampler {
    /// The words prefixes start from (MEMIT's), used in turn.
    public static let seedWords = ["The", "Therefore", "Because", "I", "You"]

    /// `count` prefixes of `length` tokens (seed word included) ending in ". ".
    /// Special tokens are never sampled; a prefix stops early at the model's context. Braces are
    /// replaced by spaces (prompts use `{}` for the subject).
    public static func sample(model: EditableModel, tokenizer: Tokenizer, count: Int, length: Int,
                              topK: Int, seed: UInt64) -> [String] {
        if count == 0 { return [] }
        var generator = SeededGenerator(seed: seed)
        let bos = FactTokenization.bosPrefix(tokenizer)
        let vocabulary = model.configuration.vocabularySize
        let allowed = (0..<vocabulary).map { !tokenizer.isSpecial($0) && !tokenizer.bytes($0).isEmpty }
        let seeds: [[Int]] = (0..<count).map { i in bos + tokenizer.encode(seedWords[i % seedWords.count]) }
        let budgets = seeds.map { max(0, length - ($0.count - bos.count)) }
        let sequences = model.extend(prompts: seeds, budgets: budgets) { _, logProbabilities in
            sampleTopK(logProbabilities, allowed: allowed, k: topK, generator: &generator)
        }
        return sequences.map { ids in
            let text = tokenizer.decode(Array(ids.dropFirst(bos.count)))
            let cleaned = String(text.map { $0 == "{" || $0 == "}" ? " " : $0 })
            return cleaned + ". "
        }
    }

    /// Draws from the `k` most likely allowed tokens in proportion to their probabilities. Ties are
    /// broken by the lower id, so the draw depends only on the values and the generator.
    static func sampleTopK(_ logProbabilities: [Float], allowed: [Bool], k: Int,
                           generator: inout SeededGenerator) -> Int {
        var best: [(id: Int, logp: Float)] = []
        best.reserveCapacity(k + 1)
        for (id, logp) in logProbabilities.enumerated() where id < allowed.count && allowed[id] && logp.isFinite {
            if best.count == k, let worst = best.last, !(logp > worst.logp) { continue }
            var insert = best.count
            while insert > 0 && best[insert - 1].logp < logp { insert -= 1 }
            best.insert((id, logp), at: insert)
            if best.count > k { best.removeLast() }
        }
        guard let top = best.first else { return 0 }
        let weights = best.map { exp(Double($0.logp - top.logp)) }
        let total = weights.reduce(0, +)
        var draw = generator.nextUnitDouble() * total
        for (candidate, weight) in zip(best, weights) {
            draw -= weight
            if draw < 0 { return candidate.id }
        }
        return best[best.count - 1].id
    }
}

