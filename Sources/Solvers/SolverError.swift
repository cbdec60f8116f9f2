// The one error type of the Solvers module: malformed facts files, unusable corpora and
// statistics, and linear systems that cannot be solved. Every message is one line and names the
// file, line, field, layer or facts involved.

/// Everything that can go wrong while reading edit requests or computing an edit.
public enum SolverError: Error, Equatable, CustomStringConvertible {
    /// A facts file that cannot be read at all.
    case unreadableFile(file: String, reason: String)
    /// A line (or the whole JSON array file) that is not valid JSON.
    case notJSON(file: String, line: Int)
    /// A line with bytes that are not UTF-8.
    case notUTF8(file: String, line: Int)
    /// A record without a required field (dotted path such as `requested_rewrite.subject`).
    case missingField(file: String, line: Int, field: String)
    /// A field of the wrong JSON type.
    case wrongType(file: String, line: Int, field: String, expected: String)
    /// A target or subject that is empty or only whitespace.
    case emptyField(file: String, line: Int, field: String)
    /// The subject does not occur in the prompt (or the prompt has no `{}`).
    case subjectNotInPrompt(file: String, line: Int, subject: String)
    /// The same fact (subject, prompt and new target) twice in one file.
    case duplicateFact(file: String, line: Int, firstLine: Int)
    /// The same subject and prompt asked to say two different things in one file.
    case conflictingTargets(file: String, line: Int, firstLine: Int, first: String, second: String)
    /// A prompt template with `{}` more than once.
    case badTemplate(file: String, line: Int, field: String, placeholders: Int)
    /// A fact's text does not fit the model's context (after the context prefixes).
    case factTooLong(file: String, line: Int, field: String, tokens: Int, limit: Int, context: Int)
    /// More facts in one file than one commit takes.
    case tooManyFacts(file: String, count: Int, limit: Int)
    /// A file that holds no facts.
    case noFacts(file: String)

    /// A corpus file that cannot be read or is not UTF-8 text / JSONL with `text`.
    case corpus(file: String, line: Int?, reason: String)
    /// The corpus ran out before the requested number of tokens.
    case corpusTooSmall(tokens: Int, needed: Int)
    /// Statistics whose shape or content does not fit.
    case statistics(layer: Int, reason: String)
    /// No statistics for an edit layer that needs them.
    case missingStatistics(layer: Int)

    /// The subject's tokens could not be located in a tokenized prompt.
    case subjectNotTokenized(fact: String, text: String)
    /// A prompt or target that tokenizes to nothing.
    case emptyTokenization(fact: String, field: String)
    /// A prompt longer than the model's context.
    case promptTooLong(fact: String, tokens: Int, context: Int)

    /// A linear system of the solver that is singular or too ill-conditioned to trust.
    case singularSystem(method: String, layer: Int, facts: [String], detail: String)
    /// A computed quantity (target, delta) that is not finite.
    case nonFinite(layer: Int, what: String)
    /// A hyperparameter outside its valid range.
    case invalidHyperparameter(field: String, reason: String)
    /// Shapes of inputs that do not agree (keys, previous keys, statistics, weights).
    case shapeMismatch(what: String, expected: String, actual: String)

    public var description: String {
        switch self {
        case .unreadableFile(let file, let reason):
            return "\(file): cannot read: \(reason)"
        case .notJSON(let file, let line):
            return "\(file):\(line): not valid JSON"
        case .notUTF8(let file, let line):
            return "\(file):\(line): not valid UTF-8"
        case .missingField(let file, let line, let field):
            return "\(file):\(line): missing field '\(field)'"
        case .wrongType(let file, let line, let field, let expected):
            return "\(file):\(line): field '\(field)' must be \(expected)"
        case .emptyField(let file, let line, let field):
            return "\(file):\(line): field '\(field)' is empty"
        case .subjectNotInPrompt(let file, let line, let subject):
            return "\(file):\(line): field 'prompt' does not contain the subject \(subject.debugDescription) (or '{}')"
        case .duplicateFact(let file, let line, let firstLine):
            return "\(file):\(line): duplicate fact (same subject, prompt and target_new as line \(firstLine))"
        case .conflictingTargets(let file, let line, let firstLine, let first, let second):
            return "\(file):\(line): field 'target_new': \(second.debugDescription) conflicts with \(first.debugDescription) for the same subject and prompt on line \(firstLine); keep one"
        case .badTemplate(let file, let line, let field, let placeholders):
            return "\(file):\(line): field '\(field)' has {} \(placeholders) times; the subject's place must be marked exactly once"
        case .factTooLong(let file, let line, let field, let tokens, let limit, let context):
            return "\(file):\(line): field '\(field)' needs \(tokens) tokens; at most \(limit) fit the model's context of \(context) after the context prefixes"
        case .tooManyFacts(let file, let count, let limit):
            return "\(file): \(count) facts; one commit takes at most \(limit) (split the file into several commits)"
        case .noFacts(let file):
            return "\(file): no facts"
        case .corpus(let file, let line, let reason):
            if let line { return "\(file):\(line): \(reason)" }
            return "\(file): \(reason)"
        case .corpusTooSmall(let tokens, let needed):
            return "corpus has \(tokens) tokens, statistics need \(needed)"
        case .statistics(let layer, let reason):
            return "statistics of layer \(layer): \(reason)"
        case .missingStatistics(let layer):
            return "no preservation statistics for layer \(layer)"
        case .subjectNotTokenized(let fact, let text):
            return "\(fact): no token covers the subject in \"\(text)\""
        case .emptyTokenization(let fact, let field):
            return "\(fact): field '\(field)' tokenizes to no tokens"
        case .promptTooLong(let fact, let tokens, let context):
            return "\(fact): prompt of \(tokens) tokens exceeds the model context of \(context)"
        case .singularSystem(let method, let layer, let facts, let detail):
            let names = facts.isEmpty ? "" : " (facts: \(facts.joined(separator: "; ")))"
            return "\(method) system at layer \(layer) is singular or ill-conditioned\(names): \(detail)"
        case .nonFinite(let layer, let what):
            return "layer \(layer): \(what) is not finite"
        case .invalidHyperparameter(let field, let reason):
            return "hyperparameter '\(field)': \(reason)"
        case .shapeMismatch(let what, let expected, let actual):
            return "\(what): expected \(expected), got \(actual)"
        }
    }
}
