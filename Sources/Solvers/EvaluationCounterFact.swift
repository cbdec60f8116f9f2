// The CounterFact evaluation of a model version (ROME's compute_rewrite_quality_counterfact):
// for every fact, " " + target_new and " " + target_true are scored teacher-forced after the
// rewrite prompt, the paraphrase prompts and the neighbourhood prompts, with
// p = exp(−mean per-token NLL). All prompts of all facts go through one EvaluationScorer run.
// Not here: generation-based measures (fluency, consistency), which need generation prompts
// and reference texts CounterFact files here do not carry.
import Models

/// CounterFact metrics of a model on edit requests.
public enum CounterFactEvaluation {
    /// Scores every request on `model` and summarises.
    /// Facts without target_true are scored on target_new's greedy top-1 only.
    /// - Throws: `SolverError.emptyTokenization` for a prompt or target with no tokens,
    ///   `.promptTooLong` when a prompt with its target does not fit the model's context.
    public static func evaluate(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest],
                                scorer: EvaluationScorer = EvaluationScorer(),
                                progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationReport {
        let context = model.configuration.contextLength
        var queries: [ScoringQuery] = []
        var plans: [FactPlan] = []
        for request in requests {
            let label = request.label
            let newIDs = try FactTokenization.target(request.targetNew, label: label, field: "target_new", tokenizer: tokenizer)
            let trueIDs = try request.targetTrue.map {
                try FactTokenization.target($0, label: label, field: "target_true", tokenizer: tokenizer)
            }
            func plan(_ text: String, field: String, compare: Bool, answerIDs: [Int]? = nil) throws -> PromptPlan {
                let trueIDs = answerIDs ?? trueIDs
                let ids = FactTokenization.text(text, tokenizer: tokenizer)
                if ids.isEmpty { throw SolverError.emptyTokenization(fact: label, field: field) }
                let longest = ids.count + max(newIDs.count, trueIDs?.count ?? 0) - 1
                if longest > context { throw SolverError.promptTooLong(fact: label, tokens: longest, context: context) }
                var plan = PromptPlan(text: text, newQuery: queries.count, trueQuery: nil)
                queries.append(ScoringQuery(prompt: ids, target: newIDs))
                if compare, let trueIDs {
                    plan.trueQuery = queries.count
                    queries.append(ScoringQuery(prompt: ids, target: trueIDs))
                }
                return plan
            }
            let rewrite = try plan(request.filledPrompt, field: "prompt", compare: true)
            var paraphrases: [PromptPlan] = []
            var neighborhood: [PromptPlan] = []
            if trueIDs != nil {
                for (i, text) in request.paraphrases.enumerated() {
                    paraphrases.append(try plan(text, field: "paraphrases[\(i)]", compare: true))
                }
                for (i, text) in request.neighborhood.enumerated() {
                    let answer = try i < request.neighborhoodAnswers.count
                        ? FactTokenization.target(request.neighborhoodAnswers[i], label: label,
                                                  field: "neighborhood_answers[\(i)]", tokenizer: tokenizer)
                        : nil
                    neighborhood.append(try plan(text, field: "neighborhood[\(i)]", compare: true, answerIDs: answer))
                }
            }
            plans.append(FactPlan(request: request, rewrite: rewrite, paraphrases: paraphrases, neighborhood: neighborhood))
        }

        let scores = scorer.score(model: model, queries: queries, progress: progress)
        func promptScore(_ plan: PromptPlan) -> PromptScore {
            PromptScore(prompt: plan.text, probabilityNew: scores[plan.newQuery].probability,
                        probabilityTrue: plan.trueQuery.map { scores[$0].probability },
                        newIsTop1: scores[plan.newQuery].allTop1)
        }
        return EvaluationReport(facts: plans.map { plan in
            FactEvaluation(line: plan.request.line, subject: plan.request.subject, targetNew: plan.request.targetNew,
                           targetTrue: plan.request.targetTrue, rewrite: promptScore(plan.rewrite),
                           paraphrases: plan.paraphrases.map(promptScore), neighborhood: plan.neighborhood.map(promptScore))
        })
    }

    /// Where one prompt's queries sit in the query list.
    private struct PromptPlan {
        var text: String
        var newQuery: Int
        var trueQuery: Int?
    }

    private struct FactPlan {
        var request: EditRequest
        var rewrite: PromptPlan
        var paraphrases: [PromptPlan]
        var neighborhood: [PromptPlan]
    }
}
