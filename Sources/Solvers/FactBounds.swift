// What a commit can take, checked before any work: how many facts, and whether each fact's text
// fits the model's context once the context prefixes are in front of it. Every position the
// solver and the health check run must exist in the model: a prompt past the context would read
// beyond the position table.
import Models

public enum FactBounds {
    /// The most facts one commit takes (a larger file is split into several commits).
    public static let maxFactsPerCommit = 2_048

    /// Refuses `requests` from `file` when there are too many, or when a prompt with its target,
    /// a paraphrase or a neighbourhood prompt with its answer does not fit `contextLength` tokens
    /// after the context prefixes of `hyperparameters`.
    /// - Throws: `SolverError.tooManyFacts`, `.factTooLong` naming the line and field.
    public static func check(_ requests: [EditRequest], file: String, tokenizer: Tokenizer, contextLength: Int,
                             hyperparameters h: EditHyperparameters) throws {
        if requests.count > maxFactsPerCommit {
            throw SolverError.tooManyFacts(file: file, count: requests.count, limit: maxFactsPerCommit)
        }
        let special = tokenizer.bosTokenID == nil ? 0 : 1
        // A sampled prefix is `prefixLength` generated tokens after a start token, then a space.
        let prefixTokens = h.prefixCount > 0 ? h.prefixLength + 2 : 0
        let editLimit = contextLength - special - prefixTokens
        let readLimit = contextLength - special
        func count(_ text: String) -> Int { tokenizer.encode(text).count }
        for request in requests {
            func fail(_ field: String, _ tokens: Int, _ limit: Int) -> SolverError {
                .factTooLong(file: file, line: request.line, field: field, tokens: tokens, limit: max(0, limit), context: contextLength)
            }
            let target = count(EditRequest.spacedTarget(request.targetNew))
            let subject = count(request.subject)
            if target >= editLimit { throw fail("target_new", target, editLimit) }
            if subject >= editLimit { throw fail("subject", subject, editLimit) }
            let rewrite = count(request.filledPrompt) + target
            if rewrite > editLimit { throw fail("prompt (with subject and target_new)", rewrite, editLimit) }
            let kl = count(h.klPrompt.replacingOccurrences(of: "{}", with: request.subject))
            if kl > editLimit { throw fail("subject (in kl_prompt)", kl, editLimit) }
            for (index, paraphrase) in request.paraphrases.enumerated() {
                let tokens = count(paraphrase) + target
                if tokens > readLimit { throw fail("paraphrases[\(index)] (with target_new)", tokens, readLimit) }
            }
            for (index, neighbour) in request.neighborhood.enumerated() {
                let answer = request.neighborhoodAnswer(index).map { count(EditRequest.spacedTarget($0)) } ?? 0
                let tokens = count(neighbour) + answer
                if tokens > readLimit { throw fail("neighborhood[\(index)]", tokens, readLimit) }
            }
        }
    }
}
