// Token ids of the texts an edit runs on, and where the subject's last token is. The subject is
// found from the tokenizer's code-point offsets (the last token overlapping the subject's span),
// never by tokenizing pieces separately, which breaks with BOS and with merges across the seam.
// Nothing here runs a model.
import Models

/// A tokenized prompt and the position of its subject's last token.
public struct SubjectPrompt: Sendable, Equatable {
    /// Token ids, BOS first when the tokenizer asks for it.
    public var ids: [Int]
    /// Index in `ids` of the last token overlapping the subject.
    public var subjectPosition: Int
}

/// How the pieces of a fact become token ids.
public enum FactTokenization {
    /// `prefix + request.filledPrompt`, tokenized, with the subject's last token located.
    /// - Throws: `SolverError.subjectNotTokenized` when no token overlaps the subject.
    public static func prompt(_ request: EditRequest, prefix: String = "", tokenizer: Tokenizer) throws -> SubjectPrompt {
        try subjectPrompt(template: request.prompt, subject: request.subject, prefix: prefix,
                          label: request.label, tokenizer: tokenizer)
    }

    /// `prefix + template` with `{}` filled by `subject`, tokenized, with the subject located.
    /// - Throws: `SolverError.subjectNotTokenized` when no token overlaps the subject.
    public static func subjectPrompt(template: String, subject: String, prefix: String, label: String,
                                     tokenizer: Tokenizer) throws -> SubjectPrompt {
        let request = EditRequest(subject: subject, prompt: template, targetNew: "")
        let text = prefix + request.filledPrompt
        let local = request.subjectCodePointRange
        let offset = prefix.unicodeScalars.count
        let span = (local.lowerBound + offset)..<(local.upperBound + offset)
        let tokens = tokenizer.encodeWithOffsets(text)
        guard let last = tokens.lastIndex(where: { $0.start < span.upperBound && $0.end > span.lowerBound }) else {
            throw SolverError.subjectNotTokenized(fact: label, text: text)
        }
        let bos = bosPrefix(tokenizer)
        return SubjectPrompt(ids: bos + tokens.map(\.id), subjectPosition: bos.count + last)
    }

    /// The ids of a whole text (BOS first when the tokenizer asks for it).
    public static func text(_ text: String, tokenizer: Tokenizer) -> [Int] {
        bosPrefix(tokenizer) + tokenizer.encode(text)
    }

    /// The target's ids: `" " + target` tokenized, no BOS.
    /// - Throws: `SolverError.emptyTokenization` when the target tokenizes to nothing.
    public static func target(_ target: String, label: String, field: String = "target_new",
                              tokenizer: Tokenizer) throws -> [Int] {
        let ids = tokenizer.encode(EditRequest.spacedTarget(target))
        if ids.isEmpty { throw SolverError.emptyTokenization(fact: label, field: field) }
        return ids
    }

    static func bosPrefix(_ tokenizer: Tokenizer) -> [Int] {
        if tokenizer.addBOS, let bos = tokenizer.bosTokenID { return [bos] }
        return []
    }
}

/// A prompt followed by target tokens, for teacher-forced scoring: the logits at
/// `positions[j]` predict `targetIDs[j]`.
struct TeacherForcedPrompt {
    var ids: [Int]
    var positions: [Int]
    var targetIDs: [Int]

    /// `prompt + target` without the target's last token.
    init(prompt: [Int], target: [Int]) {
        precondition(!prompt.isEmpty && !target.isEmpty, "teacher forcing needs a prompt and a target")
        ids = prompt + target.dropLast()
        positions = (0..<target.count).map { prompt.count - 1 + $0 }
        targetIDs = target
    }
}
