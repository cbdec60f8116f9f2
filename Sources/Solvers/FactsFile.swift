// Reads facts files into edit requests. Accepted, per record:
//  - mledit's own JSONL: {"prompt": "{} is located in", "subject": …, "target_new": …,
//    optional "target_true", "paraphrases", "neighborhood", "neighborhood_answers"};
//  - EasyEdit: "prompt" with the subject written out, "subject", "target_new", optional
//    "ground_truth", "rephrase_prompt", "locality_prompt" (strings or arrays of strings);
//  - CounterFact: {"requested_rewrite": {"prompt", "subject", "target_new": {"str"},
//    "target_true": {"str"}}, "paraphrase_prompts", "neighborhood_prompts", optional
//    "neighborhood_answers" (each neighbourhood prompt's own answer, when not target_true)};
//  - zsRE (MEND layout): "src" (subject written out), "subject", "alt", optional "answers",
//    "rephrase", "loc".
// A file is JSONL (one record a line) or one JSON array (records located by line for errors).
// This file only parses and validates; it never tokenizes.
import Foundation

/// Parser of facts files (JSONL or a JSON array of records).
public enum FactsFile {
    /// Reads and parses the facts file at `path`. `allowDuplicates` keeps repeated facts (evaluation
    /// data such as CounterFact repeats some); an edit must reject them.
    /// - Throws: `SolverError` naming the file, line and field of the first problem.
    public static func load(path: String, allowDuplicates: Bool = false) throws -> [EditRequest] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SolverError.unreadableFile(file: path, reason: readableReason(error))
        }
        return try parse(data, file: path, allowDuplicates: allowDuplicates)
    }

    /// Parses facts from bytes; `file` is only used in error messages.
    /// - Throws: `SolverError` naming the file, line and field of the first problem.
    public static func parse(_ data: Data, file: String, allowDuplicates: Bool = false) throws -> [EditRequest] {
        let bytes = [UInt8](data)
        let lines = splitLines(bytes)
        for (index, range) in lines.enumerated() where String(validating: bytes[range], as: UTF8.self) == nil {
            throw SolverError.notUTF8(file: file, line: index + 1)
        }
        var records: [(line: Int, bytes: ArraySlice<UInt8>)] = []
        if let first = bytes.firstIndex(where: { !isWhitespace($0) }), bytes[first] == UInt8(ascii: "[") {
            records = try arrayElements(bytes, from: first, file: file)
        } else {
            for (index, range) in lines.enumerated() where bytes[range].contains(where: { !isWhitespace($0) }) {
                records.append((index + 1, bytes[range]))
            }
        }
        var requests: [EditRequest] = []
        var seen: [FactKey: Int] = [:]
        var targets: [PromptKey: (line: Int, target: String)] = [:]
        for record in records {
            guard let object = try? JSONSerialization.jsonObject(with: Data(record.bytes), options: [.fragmentsAllowed])
            else { throw SolverError.notJSON(file: file, line: record.line) }
            guard let fields = object as? [String: Any] else {
                throw SolverError.wrongType(file: file, line: record.line, field: "record", expected: "a JSON object")
            }
            let request = try makeRequest(fields, file: file, line: record.line)
            let key = FactKey(subject: request.subject, prompt: request.prompt, target: request.targetNew)
            if !allowDuplicates, let firstLine = seen[key] {
                throw SolverError.duplicateFact(file: file, line: record.line, firstLine: firstLine)
            }
            seen[key] = record.line
            let promptKey = PromptKey(subject: request.subject, prompt: request.prompt)
            if !allowDuplicates, let first = targets[promptKey], first.target != request.targetNew {
                throw SolverError.conflictingTargets(file: file, line: record.line, firstLine: first.line,
                                                     first: first.target, second: request.targetNew)
            }
            if targets[promptKey] == nil { targets[promptKey] = (record.line, request.targetNew) }
            requests.append(request)
        }
        if requests.isEmpty { throw SolverError.noFacts(file: file) }
        return requests
    }

    private struct PromptKey: Hashable {
        var subject: String
        var prompt: String
    }

    private struct FactKey: Hashable {
        var subject: String
        var prompt: String
        var target: String
    }

    // MARK: - Records

    private static func makeRequest(_ fields: [String: Any], file: String, line: Int) throws -> EditRequest {
        let reader = FieldReader(file: file, line: line)
        if let rewrite = fields["requested_rewrite"] {
            guard let rewrite = rewrite as? [String: Any] else {
                throw SolverError.wrongType(file: file, line: line, field: "requested_rewrite", expected: "a JSON object")
            }
            let subject = try reader.requiredString(rewrite, "subject", path: "requested_rewrite.subject")
            let prompt = try reader.requiredString(rewrite, "prompt", path: "requested_rewrite.prompt")
            let targetNew = try reader.requiredTarget(rewrite, "target_new", path: "requested_rewrite.target_new")
            let targetTrue = try reader.optionalTarget(rewrite, "target_true", path: "requested_rewrite.target_true")
            let neighborhood = try reader.strings(fields, "neighborhood_prompts")
            return EditRequest(
                subject: subject, prompt: try template(prompt, subject: subject, file: file, line: line, field: "requested_rewrite.prompt"),
                targetNew: targetNew, targetTrue: targetTrue,
                paraphrases: try reader.strings(fields, "paraphrase_prompts"),
                neighborhood: neighborhood, neighborhoodAnswers: try reader.answers(fields, "neighborhood_answers", for: neighborhood),
                line: line)
        }
        if fields["src"] != nil, fields["alt"] != nil, fields["target_new"] == nil {
            let subject = try reader.requiredString(fields, "subject", path: "subject")
            let prompt = try reader.requiredString(fields, "src", path: "src")
            let targetNew = try reader.requiredTarget(fields, "alt", path: "alt")
            let answers = try reader.strings(fields, "answers")
            return EditRequest(
                subject: subject, prompt: try template(prompt, subject: subject, file: file, line: line, field: "src"),
                targetNew: targetNew, targetTrue: answers.first,
                paraphrases: try reader.strings(fields, "rephrase"),
                neighborhood: try reader.strings(fields, "loc"), line: line)
        }
        let subject = try reader.requiredString(fields, "subject", path: "subject")
        let prompt = try reader.requiredString(fields, "prompt", path: "prompt")
        let targetNew = try reader.requiredTarget(fields, "target_new", path: "target_new")
        var targetTrue = try reader.optionalTarget(fields, "target_true", path: "target_true")
        if targetTrue == nil { targetTrue = try reader.optionalTarget(fields, "ground_truth", path: "ground_truth") }
        var paraphrases = try reader.strings(fields, "paraphrases")
        if paraphrases.isEmpty { paraphrases = try reader.strings(fields, "rephrase_prompt") }
        var neighborhood = try reader.strings(fields, "neighborhood")
        if neighborhood.isEmpty { neighborhood = try reader.strings(fields, "locality_prompt") }
        return EditRequest(
            subject: subject, prompt: try template(prompt, subject: subject, file: file, line: line, field: "prompt"),
            targetNew: targetNew, targetTrue: targetTrue, paraphrases: paraphrases, neighborhood: neighborhood,
            neighborhoodAnswers: try reader.answers(fields, "neighborhood_answers", for: neighborhood), line: line)
    }

    /// The prompt as a template: kept when it has `{}`, else the subject's first occurrence
    /// becomes `{}` (EasyEdit and zsRE write the subject out).
    private static func template(_ prompt: String, subject: String, file: String, line: Int, field: String) throws -> String {
        let placeholders = prompt.components(separatedBy: "{}").count - 1
        if placeholders > 1 { throw SolverError.badTemplate(file: file, line: line, field: field, placeholders: placeholders) }
        if placeholders == 1 { return prompt }
        guard let range = prompt.range(of: subject) else {
            throw SolverError.subjectNotInPrompt(file: file, line: line, subject: subject)
        }
        return prompt.replacingCharacters(in: range, with: "{}")
    }

    private struct FieldReader {
        let file: String
        let line: Int

        func requiredString(_ fields: [String: Any], _ key: String, path: String) throws -> String {
            guard let value = fields[key], !(value is NSNull) else {
                throw SolverError.missingField(file: file, line: line, field: path)
            }
            guard let string = value as? String else {
                throw SolverError.wrongType(file: file, line: line, field: path, expected: "a string")
            }
            if string.allSatisfy(\.isWhitespace) { throw SolverError.emptyField(file: file, line: line, field: path) }
            return string
        }

        /// A target: a string, a CounterFact `{"str": …}` object, or a non-empty array of strings
        /// (its first element).
        func requiredTarget(_ fields: [String: Any], _ key: String, path: String) throws -> String {
            guard let target = try optionalTarget(fields, key, path: path) else {
                throw SolverError.missingField(file: file, line: line, field: path)
            }
            return target
        }

        func optionalTarget(_ fields: [String: Any], _ key: String, path: String) throws -> String? {
            guard let value = fields[key], !(value is NSNull) else { return nil }
            let string: String
            if let s = value as? String {
                string = s
            } else if let object = value as? [String: Any] {
                guard let s = object["str"] else {
                    throw SolverError.missingField(file: file, line: line, field: path + ".str")
                }
                guard let s = s as? String else {
                    throw SolverError.wrongType(file: file, line: line, field: path + ".str", expected: "a string")
                }
                string = s
            } else if let array = value as? [Any], let s = array.first as? String {
                string = s
            } else {
                throw SolverError.wrongType(file: file, line: line, field: path, expected: "a string")
            }
            if string.allSatisfy(\.isWhitespace) { throw SolverError.emptyField(file: file, line: line, field: path) }
            return string
        }

        /// An optional list of prompts: a string or an array of strings; empty strings dropped.
        /// Optional answers, one per neighbourhood prompt.
        func answers(_ fields: [String: Any], _ key: String, for prompts: [String]) throws -> [String] {
            let answers = try strings(fields, key)
            if !answers.isEmpty, answers.count != prompts.count {
                throw SolverError.wrongType(file: file, line: line, field: key,
                                            expected: "one answer per neighbourhood prompt (\(prompts.count), found \(answers.count))")
            }
            return answers
        }

        func strings(_ fields: [String: Any], _ key: String) throws -> [String] {
            guard let value = fields[key], !(value is NSNull) else { return [] }
            if let s = value as? String { return s.isEmpty ? [] : [s] }
            guard let array = value as? [Any] else {
                throw SolverError.wrongType(file: file, line: line, field: key, expected: "an array of strings")
            }
            var out: [String] = []
            for element in array {
                guard let s = element as? String else {
                    throw SolverError.wrongType(file: file, line: line, field: key, expected: "an array of strings")
                }
                if !s.isEmpty { out.append(s) }
            }
            return out
        }
    }

    // MARK: - Bytes

    private static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    private static func splitLines(_ bytes: [UInt8]) -> [Range<Int>] {
        var lines: [Range<Int>] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0x0A {
            lines.append(start..<i)
            start = i + 1
        }
        if start < bytes.count { lines.append(start..<bytes.count) }
        return lines
    }

    /// The top-level elements of a JSON array, each with the line it starts on. Only structure
    /// (strings, escapes, nesting) is scanned here; each element is parsed on its own afterwards.
    private static func arrayElements(_ bytes: [UInt8], from open: Int, file: String) throws
        -> [(line: Int, bytes: ArraySlice<UInt8>)] {
        var elements: [(line: Int, bytes: ArraySlice<UInt8>)] = []
        var line = 1 + bytes[0..<open].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        var depth = 1
        var inString = false
        var escaped = false
        var elementStart: Int?
        var elementLine = line
        var i = open + 1
        var closed = false
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x0A { line += 1 }
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            if depth == 1 && elementStart == nil && !isWhitespace(b) && b != UInt8(ascii: ",") && b != UInt8(ascii: "]") {
                elementStart = i
                elementLine = line
            }
            switch b {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 {
                    if let s = elementStart { elements.append((elementLine, bytes[s..<i])) }
                    closed = true
                }
            case UInt8(ascii: ","):
                if depth == 1 {
                    guard let s = elementStart else { throw SolverError.notJSON(file: file, line: line) }
                    elements.append((elementLine, bytes[s..<i]))
                    elementStart = nil
                }
            default: break
            }
            i += 1
            if closed { break }
        }
        if !closed { throw SolverError.notJSON(file: file, line: elementStart == nil ? line : elementLine) }
        if let extra = bytes[i...].firstIndex(where: { !isWhitespace($0) }) {
            let extraLine = 1 + bytes[0..<extra].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            throw SolverError.notJSON(file: file, line: extraLine)
        }
        return elements
    }

    private static func readableReason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return ns.localizedDescription
    }
}
