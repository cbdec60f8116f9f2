// The CounterFact metrics of one model version on a list of facts: per fact the probabilities
// of the new and the true target on its rewrite, paraphrase and neighbourhood prompts, and the
// summary scores as ROME's summarize.py defines them (per-fact shares, then the mean over facts).
// Plain values with their JSON form; computing them is CounterFactEvaluation's job.
import Foundation

/// The probabilities of the targets after one prompt (p = exp(−mean per-token NLL)).
public struct PromptScore: Sendable, Equatable {
    /// The prompt text (subject written out).
    public var prompt: String
    /// p(" " + target_new | prompt).
    public var probabilityNew: Double
    /// p(" " + target_true | prompt), when the fact names its true target.
    public var probabilityTrue: Double?
    /// Whether every token of target_new is the argmax after its teacher-forced prefix.
    public var newIsTop1: Bool

    public init(prompt: String, probabilityNew: Double, probabilityTrue: Double?, newIsTop1: Bool) {
        self.prompt = prompt
        self.probabilityNew = probabilityNew
        self.probabilityTrue = probabilityTrue
        self.newIsTop1 = newIsTop1
    }

    /// p(new) − p(true).
    public var magnitude: Double? { probabilityTrue.map { probabilityNew - $0 } }
}

/// How one fact scores on a model version.
public struct FactEvaluation: Sendable, Equatable {
    /// The request's line in its facts file (0 when made in code).
    public var line: Int
    public var subject: String
    public var targetNew: String
    public var targetTrue: String?
    /// The rewrite prompt (the fact's own prompt with the subject filled in).
    public var rewrite: PromptScore
    /// Paraphrase prompts: should now give target_new. Scored only when target_true is known.
    public var paraphrases: [PromptScore]
    /// Neighbourhood prompts: should keep target_true. Scored only when target_true is known.
    public var neighborhood: [PromptScore]

    public init(line: Int, subject: String, targetNew: String, targetTrue: String?, rewrite: PromptScore,
                paraphrases: [PromptScore], neighborhood: [PromptScore]) {
        self.line = line
        self.subject = subject
        self.targetNew = targetNew
        self.targetTrue = targetTrue
        self.rewrite = rewrite
        self.paraphrases = paraphrases
        self.neighborhood = neighborhood
    }

    /// p(new) > p(true) on the rewrite prompt; nil without target_true.
    public var efficacy: Bool? { rewrite.probabilityTrue.map { rewrite.probabilityNew > $0 } }
    /// p(new) − p(true) on the rewrite prompt.
    public var magnitude: Double? { rewrite.magnitude }
    /// target_new is the greedy continuation of the rewrite prompt (teacher-forced top-1 on every token).
    public var top1: Bool { rewrite.newIsTop1 }
    /// Share of paraphrase prompts with p(new) > p(true); nil when there are none to compare.
    public var paraphraseScore: Double? {
        Self.share(paraphrases) { $0.probabilityNew > $1 }
    }
    /// Mean p(new) − p(true) over the paraphrase prompts.
    public var paraphraseMagnitude: Double? {
        Self.mean(paraphrases.compactMap(\.magnitude))
    }
    /// Share of neighbourhood prompts with p(true) > p(new); nil when there are none to compare.
    public var neighborhoodScore: Double? {
        Self.share(neighborhood) { $1 > $0.probabilityNew }
    }
    /// Mean p(true) − p(new) over the neighbourhood prompts.
    public var neighborhoodMagnitude: Double? {
        Self.mean(neighborhood.compactMap { $0.magnitude.map { -$0 } })
    }

    static func share(_ scores: [PromptScore], _ success: (PromptScore, Double) -> Bool) -> Double? {
        let compared = scores.compactMap { score in score.probabilityTrue.map { success(score, $0) } }
        return mean(compared.map { $0 ? 1 : 0 })
    }

    static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}

/// The CounterFact metrics of a model version over a list of facts.
public struct EvaluationReport: Sendable, Equatable {
    public var facts: [FactEvaluation]

    public init(facts: [FactEvaluation]) { self.facts = facts }

    /// Number of facts evaluated.
    public var count: Int { facts.count }
    /// Facts that name their true target (the ones efficacy, paraphrase and neighbourhood scores cover).
    public var countWithTargetTrue: Int { facts.filter { $0.targetTrue != nil }.count }

    /// Efficacy score: share of facts with p(new) > p(true) on the rewrite prompt.
    public var efficacy: Double? { FactEvaluation.mean(facts.compactMap { $0.efficacy.map { $0 ? 1 : 0 } }) }
    /// Efficacy magnitude: mean p(new) − p(true) on the rewrite prompt.
    public var efficacyMagnitude: Double? { FactEvaluation.mean(facts.compactMap(\.magnitude)) }
    /// Paraphrase score: mean over facts of the share of paraphrase prompts with p(new) > p(true).
    public var paraphrase: Double? { FactEvaluation.mean(facts.compactMap(\.paraphraseScore)) }
    /// Mean over facts of the mean paraphrase p(new) − p(true).
    public var paraphraseMagnitude: Double? { FactEvaluation.mean(facts.compactMap(\.paraphraseMagnitude)) }
    /// Neighbourhood score: mean over facts of the share of neighbourhood prompts whose own answer
    /// (target_true, or the prompt's entry in neighborhood_answers) is more probable than target_new.
    public var neighborhood: Double? { FactEvaluation.mean(facts.compactMap(\.neighborhoodScore)) }
    /// Mean over facts of the mean neighbourhood p(true) − p(new).
    public var neighborhoodMagnitude: Double? { FactEvaluation.mean(facts.compactMap(\.neighborhoodMagnitude)) }
    /// Harmonic mean of efficacy, paraphrase and neighbourhood scores (ROME's "Score").
    public var score: Double? {
        guard let e = efficacy, let p = paraphrase, let n = neighborhood else { return nil }
        if e == 0 || p == 0 || n == 0 { return 0 }
        return 3 / (1 / e + 1 / p + 1 / n)
    }
    /// Share of all facts whose target_new is the greedy continuation of the rewrite prompt.
    public var top1: Double? { FactEvaluation.mean(facts.map { $0.top1 ? 1 : 0 }) }
    /// The same share over the facts without target_true (where no comparison is possible).
    public var top1WithoutTargetTrue: Double? {
        FactEvaluation.mean(facts.filter { $0.targetTrue == nil }.map { $0.top1 ? 1 : 0 })
    }

    /// The summary as a JSON object (absent measures are `NSNull`), for `JSONSerialization`.
    /// With `includeFacts`, `facts` holds one object per fact with its numbers.
    public func jsonObject(includeFacts: Bool = true) -> [String: Any] {
        var object: [String: Any] = [
            "n": count,
            "n_with_target_true": countWithTargetTrue,
            "efficacy": Self.json(efficacy),
            "efficacy_magnitude": Self.json(efficacyMagnitude),
            "paraphrase": Self.json(paraphrase),
            "paraphrase_magnitude": Self.json(paraphraseMagnitude),
            "neighborhood": Self.json(neighborhood),
            "neighborhood_magnitude": Self.json(neighborhoodMagnitude),
            "score": Self.json(score),
            "top1": Self.json(top1),
            "top1_without_target_true": Self.json(top1WithoutTargetTrue),
        ]
        if includeFacts { object["facts"] = facts.map(\.jsonObject) }
        return object
    }

    static func json(_ value: Double?) -> Any { value ?? NSNull() }
    static func json(_ value: Bool?) -> Any { value ?? NSNull() }
    static func json(_ value: String?) -> Any { value ?? NSNull() }
}

extension FactEvaluation {
    /// This fact's numbers as a JSON object.
    public var jsonObject: [String: Any] {
        [
            "line": line,
            "subject": subject,
            "prompt": rewrite.prompt,
            "target_new": targetNew,
            "target_true": EvaluationReport.json(targetTrue),
            "p_new": rewrite.probabilityNew,
            "p_true": EvaluationReport.json(rewrite.probabilityTrue),
            "efficacy": EvaluationReport.json(efficacy),
            "magnitude": EvaluationReport.json(magnitude),
            "paraphrase": EvaluationReport.json(paraphraseScore),
            "neighborhood": EvaluationReport.json(neighborhoodScore),
            "top1": top1,
        ]
    }
}
