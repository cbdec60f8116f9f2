// The general-knowledge probe of the health check: a fixed list of candidate facts, the test
// of which of them a model answers (the whole answer teacher-forced top-1, as HealthProbe.topOne
// checks edited facts), and the rule that keeps the probe disjoint from what was edited: a
// candidate about a subject an edit in force is about is not counted. Forgetting of facts nobody
// edited is what the papers' downstream scores measure; this is the cheap, per-version form of
// it. Model-side only: the base-known set, its storage and the per-version share are MLEdit's
// HealthCheck.
import Models

/// A fact the unedited model may know: `prompt` with `{}` filled by `subject`, answered by `answer`.
public struct KnowledgeFact: Sendable, Hashable {
    public var subject: String
    /// The prompt with `{}` where the subject goes, e.g. "The capital of {} is".
    public var prompt: String
    /// The expected continuation, without its leading space ("Paris").
    public var answer: String

    public init(subject: String, prompt: String, answer: String) {
        self.subject = subject
        self.prompt = prompt
        self.answer = answer
    }

    /// The fact in the form the top-1 test takes (target_new = the answer).
    public var request: EditRequest { EditRequest(subject: subject, prompt: prompt, targetNew: answer) }
}

/// A list of candidate facts and the checks run on them.
public struct KnowledgeProbe: Sendable, Equatable {
    public var candidates: [KnowledgeFact]

    public init(candidates: [KnowledgeFact]) {
        self.candidates = candidates
    }

    /// The candidates one per line as "subject\tprompt\tanswer\n": the text the stored
    /// base-known sets are keyed by (its SHA-256), so that editing the list invalidates them.
    public var canonicalText: String {
        candidates.map { "\($0.subject)\t\($0.prompt)\t\($0.answer)\n" }.joined()
    }

    /// For each of `facts` (indices into `candidates`), whether `model` answers it top-1.
    /// - Throws: `SolverError` when a candidate's subject or answer does not tokenize.
    public func answered(_ facts: [Int], model: any TransformerModel, tokenizer: Tokenizer) throws -> [Bool] {
        try HealthProbe.topOne(model: model, tokenizer: tokenizer, facts: facts.map { candidates[$0].request })
    }

    /// The indices of the candidates `model` answers top-1, in order.
    /// - Throws: `SolverError` when a candidate's subject or answer does not tokenize.
    public func known(model: any TransformerModel, tokenizer: Tokenizer) throws -> [Int] {
        let all = Array(candidates.indices)
        return zip(all, try answered(all, model: model, tokenizer: tokenizer)).filter(\.1).map(\.0)
    }

    /// Whether an edit of `edited` touches `candidate`: the edited subject is named in the
    /// candidate's prompt or answer (its own subject included), or the candidate's subject is
    /// named in the edited prompt. Names match as whole words, ignoring case and punctuation, so
    /// an edit about "France" removes "The capital of France is" and "Paris is the capital of" →
    /// "France", but an edit about "Iran" leaves "Ireland" alone.
    public static func overlaps(_ candidate: KnowledgeFact, _ edited: EditRequest) -> Bool {
        let candidateWords = words(candidate.request.filledPrompt + " " + candidate.answer)
        return containsRun(candidateWords, words(edited.subject)) || containsRun(words(edited.filledPrompt), words(candidate.subject))
    }

    /// The candidates among `indices` that some fact of `edits` touches (`overlaps`), found
    /// through an index of words instead of comparing every pair, since a long history has
    /// thousands of facts in force.
    public func touched(by edits: [EditRequest], among indices: [Int]) -> Set<Int> {
        var candidateWords: [Int: [String]] = [:], subjectWords: [Int: [String]] = [:]
        var byWord: [String: [Int]] = [:], bySubjectStart: [String: [Int]] = [:]
        for index in indices {
            let fact = candidates[index]
            let text = Self.words(fact.request.filledPrompt + " " + fact.answer), subject = Self.words(fact.subject)
            candidateWords[index] = text
            subjectWords[index] = subject
            for word in Set(text) { byWord[word, default: []].append(index) }
            if let first = subject.first { bySubjectStart[first, default: []].append(index) }
        }
        var out = Set<Int>()
        for edit in edits {
            let subject = Self.words(edit.subject)
            if let first = subject.first {
                for index in byWord[first] ?? [] where !out.contains(index) {
                    if Self.containsRun(candidateWords[index] ?? [], subject) { out.insert(index) }
                }
            }
            let prompt = Self.words(edit.filledPrompt)
            for word in Set(prompt) {
                for index in bySubjectStart[word] ?? [] where !out.contains(index) {
                    if Self.containsRun(prompt, subjectWords[index] ?? []) { out.insert(index) }
                }
            }
        }
        return out
    }

    /// The lowercased runs of letters and digits of `text`.
    static func words(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    /// Whether `needle` (non-empty) occurs as consecutive words of `haystack`.
    static func containsRun(_ haystack: [String], _ needle: [String]) -> Bool {
        guard !needle.isEmpty, needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in
            haystack[start] == needle[0] && Array(haystack[start..<(start + needle.count)]) == needle
        }
    }
}
