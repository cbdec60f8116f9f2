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
    /// Each neighbourhood prompt's own answer, when the file gives them (empty: CounterFact's
    /// convention, where every neighbour's answer is `targetTrue`).
    public var neighborhoodAnswers: [String]
    /// The 1-based line of the facts file the request came from (0 when made in code).
    public var line: Int

    enum CodingKeys: String, CodingKey {
        case subject, prompt, paraphrases, neighborhood, line
        case targetNew = "target_new"
        case targetTrue = "target_true"
        case neighborhoodAnswers = "neighborhood_answers"
    }

    public init(subject: String, prompt: String, targetNew: String, targetTrue: String? = nil,
                paraphrases: [String] = [], neighborhood: [String] = [], neighborhoodAnswers: [String] = [],
                line: Int = 0) {
        self.subject = subject
        self.prompt = prompt
        self.targetNew = targetNew
        self.targetTrue = targetTrue
        self.paraphrases = paraphrases
        self.neighborhood = neighborhood
        self.neighborhoodAnswers = neighborhoodAnswers
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
        neighborhoodAnswers = try c.decodeIfPresent([String].self, forKey: .neighborhoodAnswers) ?? []
        line = try c.decodeIfPresent(Int.self, forKey: .line) ?? 0
    }

    /// Stored facts written before neighbourhood answers existed keep their bytes: the field is
    /// left out when empty.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(subject, forKey: .subject)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(paraphrases, forKey: .paraphrases)
        try c.encode(neighborhood, forKey: .neighborhood)
        try c.encode(line, forKey: .line)
        try c.encode(targetNew, forKey: .targetNew)
        try c.encodeIfPresent(targetTrue, forKey: .targetTrue)
        if !neighborhoodAnswers.isEmpty { try c.encode(neighborhoodAnswers, forKey: .neighborhoodAnswers) }
    }

    /// The answer a neighbourhood prompt should keep: its own when given, else `targetTrue`.
    public func neighborhoodAnswer(_ index: Int) -> String? {
        index < neighborhoodAnswers.count ? neighborhoodAnswers[index] : targetTrue
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

extension EditRequest {
    /// `requests` in order, packed into batches of at most `size` in which no subject appears twice:
    /// facts of one subject share one key, so an equality-constrained batch (EMMET, ROME) cannot
    /// give them two targets. Each request goes to the first batch with room and without its subject.
    public static func batchesWithDistinctSubjects(_ requests: [EditRequest], size: Int) -> [[EditRequest]] {
        var batches: [[EditRequest]] = []
        var subjects: [Set<String>] = []
        for request in requests {
            if let index = batches.indices.first(where: { batches[$0].count < size && !subjects[$0].contains(request.subject) }) {
                batches[index].append(request)
                subjects[index].insert(request.subject)
            } else {
                batches.append([request])
                subjects.append([request.subject])
            }
        }
        return batches
    }
}
