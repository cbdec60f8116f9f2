// One fact to write into a model: "{subject} …prompt…" → target_new, with the prompts used to
// check the edit. A plain value; reading facts files is FactsFile's job, tokenizing them
// FactTokenization's.

/// A requested rewrite of one fact.
public struct EditRequest: Sendable, Equatable, Hashable, Codable {
    /// The entity whose fact changes, e.g. "The Eiffel Tower".
    public var subject: String
    /// The prompt with `{}` where the subject goes, e.g. "{} is located in".
    public var prompt: String
    /// The new object, without a leading space ("Rome"); a space is put before it when tokenized.
    public var targetNew: String
    /// The object the model knew before, when given.
    public var targetTrue: String?
    /// Other prompts (subject written out) that should now give `targetNew`.
    public var paraphrases: [String]
    /// Prompts about other subjects whose answers should not change.
    public var neighborhood: [String]
    /// The 1-based line of the facts file the request came from (0 when made in code).
    public var line: Int

    enum CodingKeys: String, CodingKey {
        case subject, prompt, paraphrases, neighborhood, line
        case targetNew = "target_new"
        case targetTrue = "target_true"
    }

    public init(subject: String, prompt: String, targetNew: String, targetTrue: String? = nil,
                paraphrases: [String] = [], neighborhood: [String] = [], line: Int = 0) {
        self.subject = subject
        self.prompt = prompt
        self.targetNew = targetNew
        self.targetTrue = targetTrue
        self.paraphrases = paraphrases
        self.neighborhood = neighborhood
        self.line = line
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        subject = try c.decode(String.self, forKey: .subject)
        prompt = try c.decode(String.self, forKey: .prompt)
        targetNew = try c.decode(String.self, forKey: .targetNew)
        targetTrue = try c.decodeIfPresent(String.self, forKey: .targetTrue)
        paraphrases = try c.decodeIfPresent([String].self, forKey: .paraphrases) ?? []
        neighborhood = try c.decodeIfPresent([String].self, forKey: .neighborhood) ?? []
        line = try c.decodeIfPresent(Int.self, forKey: .line) ?? 0
    }

    /// The prompt with the subject put in place of the first `{}`.
    public var filledPrompt: String {
        guard let range = prompt.range(of: "{}") else { return prompt }
        return prompt.replacingCharacters(in: range, with: subject)
    }

    /// Where the subject sits in `filledPrompt`, in Unicode code points `[start, end)`.
    public var subjectCodePointRange: Range<Int> {
        let start: Int
        if let range = prompt.range(of: "{}") {
            start = prompt.unicodeScalars[prompt.unicodeScalars.startIndex..<range.lowerBound].count
        } else {
            start = 0
        }
        return start..<(start + subject.unicodeScalars.count)
    }

    /// A short name for messages: the line and the subject.
    public var label: String {
        line > 0 ? "line \(line) \"\(subject)\"" : "\"\(subject)\""
    }

    /// A target as it is tokenized: with one leading space, unless it already starts with
    /// whitespace.
    public static func spacedTarget(_ target: String) -> String {
        if let first = target.first, first.isWhitespace { return target }
        return " " + target
    }
}
