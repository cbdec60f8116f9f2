// Reading facts files: the three accepted record layouts, JSONL and JSON-array files, and the
// one-line errors that name file, line and field.
import Foundation
import Testing
@testable import Solvers

/// The Tests folder, found from this file's path.
let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

func parse(_ text: String) throws -> [EditRequest] {
    try FactsFile.parse(Data(text.utf8), file: "facts.jsonl")
}

/// The error `body` throws, or nil.
func solverError(_ body: () throws -> Void) -> SolverError? {
    do {
        try body()
    } catch let error as SolverError {
        return error
    } catch {
        return nil
    }
    return nil
}

@Suite("Facts files")
struct FactsFileTests {
    @Test("native JSONL with optional fields, blank lines skipped")
    func native() throws {
        let facts = try parse("""
            {"prompt": "{} is located in", "subject": "The Eiffel Tower", "target_new": "Rome"}

            {"prompt": "The capital of {} is", "subject": "France", "target_new": "Lyon", "target_true": "Paris", \
            "paraphrases": ["France's capital is"], "neighborhood": ["The capital of Spain is", "The capital of Italy is"]}
            """)
        #expect(facts.count == 2)
        #expect(facts[0] == EditRequest(subject: "The Eiffel Tower", prompt: "{} is located in", targetNew: "Rome", line: 1))
        #expect(facts[0].filledPrompt == "The Eiffel Tower is located in")
        #expect(facts[0].subjectCodePointRange == 0..<16)
        #expect(facts[1].line == 3)
        #expect(facts[1].targetTrue == "Paris")
        #expect(facts[1].paraphrases == ["France's capital is"])
        #expect(facts[1].neighborhood.count == 2)
        #expect(facts[1].subjectCodePointRange == 15..<21)
    }

    @Test("EasyEdit records: the subject written out becomes {}")
    func easyEdit() throws {
        let facts = try parse("""
            {"prompt": "Which city is the capital of Ünïcode Land?", "subject": "Ünïcode Land", "target_new": "Zed", \
            "ground_truth": "Ay", "rephrase_prompt": "Ünïcode Land has its capital in", "locality_prompt": "Who wrote Hamlet?"}
            """)
        #expect(facts[0].prompt == "Which city is the capital of {}?")
        #expect(facts[0].targetTrue == "Ay")
        #expect(facts[0].paraphrases == ["Ünïcode Land has its capital in"])
        #expect(facts[0].neighborhood == ["Who wrote Hamlet?"])
        #expect(facts[0].subjectCodePointRange == 29..<41)
    }

    @Test("CounterFact records as JSONL and as a JSON array, with lines")
    func counterFact() throws {
        let record = """
            {"case_id": 2, "requested_rewrite": {"prompt": "{}, the", "target_new": {"str": "piano"}, \
            "target_true": {"str": "guitar"}, "subject": "Toko Yasuda"}, \
            "paraphrase_prompts": ["Toko Yasuda is incredible at"], "neighborhood_prompts": ["John Lennon performs on the"]}
            """
        let jsonl = try parse(record)
        #expect(jsonl[0].targetNew == "piano" && jsonl[0].targetTrue == "guitar")
        #expect(jsonl[0].paraphrases.count == 1 && jsonl[0].neighborhood.count == 1)
        let array = try parse("[\n" + record + ",\n" + record.replacingOccurrences(of: "piano", with: "drums")
            .replacingOccurrences(of: "Toko Yasuda\"}", with: "Toko Yasuda Jr\"}") + "\n]\n")
        #expect(array.map(\.line) == [2, 3])
        #expect(array[1].targetNew == "drums")
        #expect(jsonl[0].neighborhoodAnswers.isEmpty && jsonl[0].neighborhoodAnswer(0) == "guitar")
    }

    @Test("neighbourhood answers: one per neighbourhood prompt, kept through JSON, else an error")
    func neighborhoodAnswers() throws {
        let facts = try parse("""
            {"prompt": "The capital of {} is", "subject": "France", "target_new": "Lyon", "target_true": "Paris", \
            "neighborhood": ["The capital of Spain is", "The capital of Italy is"], "neighborhood_answers": ["Madrid", "Rome"]}
            """)
        #expect(facts[0].neighborhoodAnswers == ["Madrid", "Rome"])
        #expect(facts[0].neighborhoodAnswer(1) == "Rome")
        let decoded = try JSONDecoder().decode(EditRequest.self, from: JSONEncoder().encode(facts[0]))
        #expect(decoded == facts[0])
        // Without answers the stored JSON has no such field (ids of stored facts stay as they were).
        let bare = EditRequest(subject: "A", prompt: "{} is in", targetNew: "B")
        #expect(!String(decoding: try JSONEncoder().encode(bare), as: UTF8.self).contains("neighborhood_answers"))
        let error = solverError {
            _ = try parse(#"{"prompt": "{} is", "subject": "A", "target_new": "B", "neighborhood": ["C is", "D is"], "neighborhood_answers": ["x"]}"#)
        }
        #expect(error?.description.hasPrefix("facts.jsonl:1: field 'neighborhood_answers'") == true, "\(String(describing: error))")
    }

    @Test("the tiny-facts-gpt2 fixture (CounterFact layout) loads completely")
    func fixture() throws {
        let path = testsFolder.appendingPathComponent("Fixtures/tiny-facts-gpt2/facts.json").path
        let facts = try FactsFile.load(path: path)
        #expect(facts.count == 150)
        #expect(facts.allSatisfy { $0.prompt.contains("{}") && $0.targetTrue != nil && $0.paraphrases.count == 2 })
        #expect(facts[0].subject == "Tilea Gropaendic" && facts[0].targetNew == "baker")
    }

    @Test("errors name file, line and field")
    func errors() {
        let good = #"{"prompt": "{} is in", "subject": "A", "target_new": "B"}"#
        let cases: [(String, SolverError, String)] = [
            (good + "\n{\"prompt\": ", .notJSON(file: "facts.jsonl", line: 2), "facts.jsonl:2: not valid JSON"),
            (#"{"prompt": "{} is in", "subject": "A"}"#, .missingField(file: "facts.jsonl", line: 1, field: "target_new"),
             "facts.jsonl:1: missing field 'target_new'"),
            (#"{"prompt": "{} is in", "subject": "A", "target_new": "  "}"#,
             .emptyField(file: "facts.jsonl", line: 1, field: "target_new"), "facts.jsonl:1: field 'target_new' is empty"),
            (#"{"prompt": "X is in", "subject": "A", "target_new": "B"}"#,
             .subjectNotInPrompt(file: "facts.jsonl", line: 1, subject: "A"), "facts.jsonl:1: field 'prompt'"),
            (good + "\n" + good.replacingOccurrences(of: "\"A\"", with: "\"Z\"") + "\n" + good,
             .duplicateFact(file: "facts.jsonl", line: 3, firstLine: 1), "facts.jsonl:3: duplicate fact"),
            (good + "\n" + good.replacingOccurrences(of: "B", with: "C"),
             .conflictingTargets(file: "facts.jsonl", line: 2, firstLine: 1, first: "B", second: "C"),
             "facts.jsonl:2: field 'target_new': \"C\" conflicts with \"B\""),
            (#"{"prompt": "{} and {} are in", "subject": "A", "target_new": "B"}"#,
             .badTemplate(file: "facts.jsonl", line: 1, field: "prompt", placeholders: 2), "facts.jsonl:1: field 'prompt' has {} 2 times"),
            (#"{"prompt": "{} is in", "subject": 5, "target_new": "B"}"#,
             .wrongType(file: "facts.jsonl", line: 1, field: "subject", expected: "a string"), "field 'subject' must be"),
            (#"{"requested_rewrite": {"prompt": "{} is in", "subject": "A", "target_new": {}}}"#,
             .missingField(file: "facts.jsonl", line: 1, field: "requested_rewrite.target_new.str"),
             "missing field 'requested_rewrite.target_new.str'"),
            ("\n\n", .noFacts(file: "facts.jsonl"), "facts.jsonl: no facts"),
            ("[" + good + ",\n" + good + "\n", .notJSON(file: "facts.jsonl", line: 2), "facts.jsonl:2: not valid JSON"),
        ]
        for (text, expected, message) in cases {
            let error = solverError { _ = try parse(text) }
            #expect(error == expected, "for \(text)")
            #expect(error?.description.hasPrefix(message) == true || error?.description.contains(message) == true,
                    "\(String(describing: error?.description)) lacks \(message)")
            #expect(error?.description.contains("\n") == false)
        }
        var bytes = Array((good + "\n" + good.replacingOccurrences(of: "B", with: "C") + "\n").utf8)
        bytes += [0x7B, 0xFF, 0xFE, 0x7D, 0x0A]
        let error = solverError { _ = try FactsFile.parse(Data(bytes), file: "f.jsonl") }
        #expect(error == .notUTF8(file: "f.jsonl", line: 3))
        let missing = solverError { _ = try FactsFile.load(path: "/nonexistent/facts.jsonl") }
        #expect(missing?.description.hasPrefix("/nonexistent/facts.jsonl: cannot read") == true)
    }

    @Test("targets get exactly one leading space")
    func spacedTargets() {
        #expect(EditRequest.spacedTarget("Rome") == " Rome")
        #expect(EditRequest.spacedTarget(" Rome") == " Rome")
    }

    @Test("hyperparameters round-trip through JSON and reject bad values")
    func hyperparameters() throws {
        var h = EditHyperparameters(layers: [3, 4], preservationWeight: 12.5, seed: 42)
        let data = try h.canonicalJSON()
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"mom2_update_weight\":12.5") && text.contains("\"v_lr\":0.5"))
        #expect(try JSONDecoder().decode(EditHyperparameters.self, from: data) == h)
        let partial = try JSONDecoder().decode(EditHyperparameters.self, from: Data(#"{"layers": [2]}"#.utf8))
        #expect(partial == EditHyperparameters(layers: [2]))
        try h.validate(layerCount: 30)
        h.layers = [31]
        #expect(throws: SolverError.invalidHyperparameter(field: "layers", reason: "layer 31 is not in 0..<30")) {
            try h.validate(layerCount: 30)
        }
    }
}
