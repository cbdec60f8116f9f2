// Seeded mutation fuzzing of the facts parser (`FactsFile.parse`): JSONL files and JSON arrays
// built from valid records of every accepted layout (the tiny-facts CounterFact records, and
// mledit, EasyEdit and zsRE records), damaged as structures (fields replaced by values of other
// types and shapes, removed, renamed, records repeated) and as text (JSON punctuation, line breaks
// and invalid UTF-8 inserted, bytes flipped or cut, nesting thousands deep). Every case must give
// requests that hold what the parser promises, or a one-line SolverError naming the file — never
// a trap or a hang. MLEDIT_FUZZ_ITERATIONS selects a long run (`make fuzz`). Reproducers of what
// this found are ordinary tests at the end.
import Foundation
import Solvers
import Tensors
import Testing

@Suite("Fuzz: facts files")
struct FactsFuzzTests {
    static var iterations: Int {
        ProcessInfo.processInfo.environment["MLEDIT_FUZZ_ITERATIONS"].flatMap { Int($0) }.map { max(1, $0) } ?? 20000
    }

    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["MLEDIT_FUZZ_SEED"].flatMap { UInt64($0) } ?? 17
    }

    /// Runs `body`, ending the process if it takes longer than `limit` seconds (a hang).
    static func guarding<T>(_ label: String, limit: TimeInterval = 60, _ body: () throws -> T) rethrows -> T {
        let alarm = DispatchWorkItem {
            FileHandle.standardError.write(Data("fuzz case \(label) ran for more than \(limit) s: a hang\n".utf8))
            exit(1)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: alarm)
        defer { alarm.cancel() }
        return try body()
    }

    /// Records of every layout FactsFile accepts; each parses on its own.
    static func baseRecords() throws -> [[String: Any]] {
        let url = SolverFixtures.tinyFactsFolder.appendingPathComponent("facts.json")
        let counterFact = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
        let own: [String: Any] = [
            "prompt": "{} is located in", "subject": "Tilea Gropaendic", "target_new": "Rome", "target_true": "Paris",
            "paraphrases": ["Where is {}? In"], "neighborhood": ["Lyon is located in", "Nice is in"],
            "neighborhood_answers": ["France", "France"],
        ]
        let easyEdit: [String: Any] = [
            "prompt": "The mother tongue of Danielle Darrieux is", "subject": "Danielle Darrieux", "target_new": ["English"],
            "ground_truth": "French", "rephrase_prompt": "Danielle Darrieux speaks", "locality_prompt": ["Nobody speaks"],
        ]
        let zsRE: [String: Any] = [
            "src": "Which river does Ponte Vecchio cross?", "subject": "Ponte Vecchio", "alt": "Thames",
            "answers": ["Arno"], "rephrase": "What river is Ponte Vecchio over?", "loc": "nq question: who sang it",
        ]
        return Array(counterFact.prefix(12)) + [own, easyEdit, zsRE]
    }

    /// Values of every JSON type and some shapes a reader has to think about.
    nonisolated(unsafe) static let replacements: [Any] = [
        NSNull(), 0, -1, 1e308, 8.0, true, "", "   ", "\n", "{}", "{} {}", "x", "{}\u{0}", "e\u{301}", "\u{1F600}",
        "Tilea\nGropaendic", String(repeating: "ab{}", count: 2000), [Any](), [""], ["a", 1], [[["deep"]]], ["{}"],
        ["str": 5], ["str": ""], ["str": "ok"], [String: Any](),
    ]

    /// One structural change: a field (top level or one level down) replaced, removed or added.
    static func mutate(_ record: inout [String: Any], _ g: inout SeededGenerator) {
        let keys = record.keys.sorted()
        guard let key = keys.randomElement(using: &g) else { return }
        let value = replacements.randomElement(using: &g) ?? NSNull()
        switch Int.random(in: 0 ..< 5, using: &g) {
        case 0, 1:
            if var inner = record[key] as? [String: Any], let innerKey = inner.keys.sorted().randomElement(using: &g) {
                inner[innerKey] = value
                record[key] = inner
            } else {
                record[key] = value
            }
        case 2:
            record.removeValue(forKey: key)
        case 3:
            record[["subject", "prompt", "target_new", "requested_rewrite", "src", "alt", "neighborhood_answers", "zz"]
                .randomElement(using: &g) ?? "zz"] = value
        default:
            // The subject of another layout: usually not in the prompt.
            record["subject"] = ["{}", "Paris", "gropaendic", " Tilea", "Tilea Gropaendic"].randomElement(using: &g)
        }
    }

    static let insertions: [[UInt8]] = [
        Array("{".utf8), Array("}".utf8), Array("[".utf8), Array("]".utf8), Array("\"".utf8), Array("\\".utf8),
        Array(",".utf8), Array(":".utf8), [0x0A], [0x0D, 0x0A], [0x00], [0xEF, 0xBB, 0xBF], [0xFF], [0xC3],
        [0xED, 0xA0, 0x80], [0xC0, 0xAF], Array("\\u".utf8), Array("\\ud800".utf8), Array("1e999".utf8),
        Array(repeating: UInt8(ascii: "["), count: 10_000), Array(String(repeating: "{\"a\":", count: 3_000).utf8),
    ]

    /// One text-level change of the file.
    static func damage(_ bytes: inout [UInt8], _ g: inout SeededGenerator) {
        let at = bytes.isEmpty ? 0 : Int.random(in: 0 ... bytes.count, using: &g)
        switch Int.random(in: 0 ..< 6, using: &g) {
        case 0:
            bytes.insert(contentsOf: insertions.randomElement(using: &g) ?? [], at: at)
        case 1 where at < bytes.count:
            bytes[at] ^= UInt8(1) << UInt8.random(in: 0 ..< 8, using: &g)
        case 2:
            bytes.removeSubrange(at ..< min(bytes.count, at + Int.random(in: 1 ... 8, using: &g)))
        case 3:
            bytes.removeSubrange(at...)
        case 4:
            // A line repeated elsewhere (a duplicate fact, or a stray record inside an array).
            let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            guard let line = lines.randomElement(using: &g) else { return }
            bytes.insert(contentsOf: Array(line) + [0x0A], at: at)
        default:
            bytes.insert(contentsOf: insertions.randomElement(using: &g) ?? [], at: at)
            bytes.insert(contentsOf: insertions.randomElement(using: &g) ?? [], at: Int.random(in: 0 ... bytes.count, using: &g))
        }
    }

    /// Case `index`: one to five records, one layout of file, one to four changes.
    static func factsCase(_ index: Int, records: [[String: Any]], seed: UInt64 = seed) -> [UInt8] {
        var g = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index))
        var chosen = (0 ..< Int.random(in: 1 ... 5, using: &g)).map { _ in records.randomElement(using: &g) ?? [:] }
        let changes = Int.random(in: 1 ... 4, using: &g)
        let structural = Int.random(in: 0 ... changes, using: &g)
        for _ in 0 ..< structural where !chosen.isEmpty {
            let k = Int.random(in: 0 ..< chosen.count, using: &g)
            mutate(&chosen[k], &g)
        }
        let encoded = chosen.map { (try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys])).map { [UInt8]($0) } ?? [] }
        var bytes: [UInt8]
        switch Int.random(in: 0 ..< 4, using: &g) {
        case 0: bytes = Array(encoded.joined(separator: [0x0A]))
        case 1: bytes = Array(encoded.joined(separator: [0x0D, 0x0A, 0x20, 0x0A])) + [0x0A]
        case 2: bytes = Array("[\n".utf8) + Array(encoded.joined(separator: Array(",\n".utf8))) + Array("\n]\n".utf8)
        default: bytes = Array("[".utf8) + Array(encoded.joined(separator: Array(",".utf8))) + Array("]".utf8)
        }
        for _ in structural ..< changes { damage(&bytes, &g) }
        return bytes
    }

    /// Whether the parser accepted `bytes`, and what went wrong if it broke a promise.
    static func check(_ bytes: [UInt8], file: String) -> (accepted: Bool, problem: String?) {
        let lineCount = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).count
        do {
            let requests = try FactsFile.parse(Data(bytes), file: file)
            if requests.isEmpty { return (true, "no requests and no error") }
            for request in requests {
                if request.subject.allSatisfy(\.isWhitespace) || request.targetNew.allSatisfy(\.isWhitespace) {
                    return (true, "line \(request.line): an empty subject or target was accepted")
                }
                if !request.prompt.contains("{}") { return (true, "line \(request.line): the prompt \(request.prompt.debugDescription) has no {}") }
                if !request.neighborhoodAnswers.isEmpty && request.neighborhoodAnswers.count != request.neighborhood.count {
                    return (true, "line \(request.line): \(request.neighborhoodAnswers.count) answers for \(request.neighborhood.count) prompts")
                }
                if !(1 ... lineCount).contains(request.line) { return (true, "line \(request.line) of a \(lineCount)-line file") }
            }
            return (true, nil)
        } catch let error as SolverError {
            let message = error.description
            if message.contains(where: \.isNewline) { return (false, "message is not one line: \(message.debugDescription)") }
            if !message.hasPrefix(file + ":") { return (false, "message does not name the file: \(message)") }
            return (false, nil)
        } catch {
            return (false, "threw \(type(of: error)), not a SolverError: \(error)")
        }
    }

    @Test("every base record parses, alone, as JSONL and as a JSON array")
    func baseRecordsParse() throws {
        let records = try Self.baseRecords()
        let lines = try records.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
        let jsonl = try FactsFile.parse(Data(lines.joined(separator: "\n").utf8), file: "base.jsonl")
        #expect(jsonl.count == records.count)
        #expect(jsonl.map(\.line) == Array(1 ... records.count))
        let array = try FactsFile.parse(Data(("[\n" + lines.joined(separator: ",\n") + "\n]").utf8), file: "base.json")
        #expect(array.map(\.line) == Array(2 ... records.count + 1))
    }

    @Test("mutated facts files parse or fail with one line naming the file, within a time bound")
    func mutations() throws {
        let records = try Self.baseRecords()
        var failures: [String] = []
        var accepted = 0, slowest = 0.0
        let start = Date()
        for index in 0 ..< Self.iterations {
            let bytes = Self.factsCase(index, records: records)
            let file = "/fuzz/facts-\(index).jsonl"
            let began = Date()
            let (wasAccepted, problem) = Self.guarding("facts \(index) (seed \(Self.seed))") { Self.check(bytes, file: file) }
            let elapsed = Date().timeIntervalSince(began)
            slowest = max(slowest, elapsed)
            if elapsed > 2 + Double(bytes.count) / 1_000_000 { failures.append("case \(index): took \(elapsed) s for \(bytes.count) bytes") }
            if let problem { failures.append("case \(index): \(problem)") }
            if wasAccepted { accepted += 1 }
        }
        print("facts: \(Self.iterations) cases in \(String(format: "%.1f", Date().timeIntervalSince(start))) s, \(accepted) accepted, slowest \(String(format: "%.3f", slowest)) s")
        let clean = failures.isEmpty
        #expect(clean, "\(failures.count) of \(Self.iterations) facts cases misbehaved; first: \(failures.prefix(5).joined(separator: " | "))")
    }

    // MARK: - Reproducers

    @Test("a subject with a line break that is not in the prompt: the error stays one line")
    func subjectWithLineBreak() throws {
        // Found by mutations (first at case 14804 of seed 17): the subject was quoted raw in the
        // message; it is now escaped.
        let record = #"{"prompt": "The mother tongue of Danielle Darrieux is", "subject": "Danielle\nDarrieux", "target_new": "English"}"#
        #expect(Self.check(Array(record.utf8), file: "/fuzz/facts.jsonl").problem == nil)
    }
}
