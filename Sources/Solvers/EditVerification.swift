// Whether each fact of an edit landed, as the user sees it: on the edited weights, the greedy
// answer to the rewrite prompt is the whole new target (every target token top-1 in turn), with
// p(new), p(true) and the greedy first token reported, and the same check on each paraphrase.
// Also the stronger setting a commit's second round uses for facts that did not land.
import Foundation
import Models

/// The verification of one fact on edited weights.
public struct FactCheck: Sendable, Equatable, Codable {
    /// The request's `label` (line and subject).
    public var fact: String
    /// The greedy answer to the rewrite prompt is the whole new target.
    public var landed: Bool
    /// It landed only in a later round.
    public var retried: Bool
    /// p(target_new | prompt) and p(target_true | prompt), over all their tokens.
    public var probabilityNew: Double
    public var probabilityTrue: Double?
    /// The greedy first token after the rewrite prompt, as text.
    public var topToken: String
    /// Paraphrases whose greedy answer is the whole new target, of `paraphrases`.
    public var paraphrasesLanded: Int
    public var paraphrases: Int

    enum CodingKeys: String, CodingKey {
        case fact, landed, retried
        case probabilityNew = "p_new"
        case probabilityTrue = "p_true"
        case topToken = "top1"
        case paraphrasesLanded = "paraphrases_landed"
        case paraphrases
    }
}

public enum EditVerification {
    /// Checks every request on `model`'s current weights.
    /// - Throws: `SolverError` for a fact that does not tokenize.
    public static func check(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest]) throws -> [FactCheck] {
        var prompts: [[Int]] = [], targets: [[Int]] = []
        var rewriteRows: [Int] = [], trueRows: [Int?] = [], paraphraseRows: [[Int]] = []
        for request in requests {
            let prompt = try FactTokenization.prompt(request, tokenizer: tokenizer).ids
            let target = try FactTokenization.target(request.targetNew, label: request.label, tokenizer: tokenizer)
            rewriteRows.append(prompts.count)
            prompts.append(prompt)
            targets.append(target)
            if let old = request.targetTrue {
                trueRows.append(prompts.count)
                prompts.append(prompt)
                targets.append(try FactTokenization.target(old, label: request.label, field: "target_true", tokenizer: tokenizer))
            } else {
                trueRows.append(nil)
            }
            var rows: [Int] = []
            for paraphrase in request.paraphrases {
                rows.append(prompts.count)
                prompts.append(FactTokenization.text(paraphrase, tokenizer: tokenizer))
                targets.append(target)
            }
            paraphraseRows.append(rows)
        }
        let scores = EditPlanner.scoreTargets(model: model, prompts: prompts, targets: targets)
        let next = model.logProbabilities(prompts: rewriteRows.map { prompts[$0] }, positions: rewriteRows.map { prompts[$0].count - 1 })
        return requests.indices.map { index in
            let rewrite = scores[rewriteRows[index]]
            let values = next.row(index)
            let top = values.indices.max { values[$0] < values[$1] } ?? 0
            return FactCheck(
                fact: requests[index].label, landed: rewrite.allTop1, retried: false,
                probabilityNew: exp(rewrite.logProbability), probabilityTrue: trueRows[index].map { exp(scores[$0].logProbability) },
                topToken: tokenizer.decode([top]),
                paraphrasesLanded: paraphraseRows[index].filter { scores[$0].allTop1 }.count,
                paraphrases: paraphraseRows[index].count)
        }
    }
}

extension EditHyperparameters {
    /// The setting of a commit's second round for facts that did not land: twice the optimisation
    /// steps and twice the clamp on ‖δ‖, within the limits `validate` enforces, and keys that give
    /// the bare prompt the share `strengthenedKeyBareWeight` (a fact that lands after a context but
    /// not as the user asks it has a bare key unlike its average); for UltraEdit, which optimises
    /// no δ, twice its step size.
    public func strengthened() -> EditHyperparameters {
        var stronger = self
        stronger.vSteps = min(Self.maxSteps, vSteps * 2)
        stronger.clampNormFactor = clampNormFactor * 2
        stronger.keyBareWeight = Self.strengthenedKeyBareWeight
        if let rate = ultraEditLearningRate { stronger.ultraEditLearningRate = rate * 2 }
        return stronger
    }

    /// The bare prompt's share of a key in the second round.
    public static let strengthenedKeyBareWeight = 1.0
}
