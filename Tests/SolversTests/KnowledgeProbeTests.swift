// The general-knowledge probe: the overlap rule that keeps it disjoint from edited facts (whole
// words, either direction) and its word index against the pairwise rule, the top-1 test on a
// candidate list the tiny-facts model knows and one it does not, and, when the default SmolLM2
// model is present, how many of the shipped candidates it knows.
import Foundation
import Models
import Testing
@testable import Solvers

@Suite("Knowledge probe")
struct KnowledgeProbeTests {
    static let capitalOfFrance = KnowledgeFact(subject: "France", prompt: "The capital of {} is", answer: "Paris")

    @Test("overlap: the edited subject in the candidate's prompt or answer, or the candidate's subject in the edited prompt")
    func overlapRule() {
        let france = Self.capitalOfFrance
        func edit(_ subject: String, _ prompt: String) -> EditRequest { EditRequest(subject: subject, prompt: prompt, targetNew: "x") }
        #expect(KnowledgeProbe.overlaps(france, edit("France", "The official language of {} is")))
        #expect(KnowledgeProbe.overlaps(france, edit("paris", "{} is located in")))              // the answer, any case
        #expect(KnowledgeProbe.overlaps(france, edit("The Louvre", "{} is the largest museum of France")))
        #expect(!KnowledgeProbe.overlaps(france, edit("Fran", "{} works as a")))                 // not inside a word
        #expect(!KnowledgeProbe.overlaps(france, edit("Francesca Rossi", "{} was born in")))
        #expect(!KnowledgeProbe.overlaps(KnowledgeFact(subject: "Ireland", prompt: "The capital of {} is", answer: "Dublin"),
                                         edit("Iran", "The capital of {} is")))
        let kingdom = KnowledgeFact(subject: "the United Kingdom", prompt: "The capital of {} is", answer: "London")
        #expect(KnowledgeProbe.overlaps(kingdom, edit("United Kingdom", "The currency of {} is")))
        #expect(!KnowledgeProbe.overlaps(kingdom, edit("Kingdom Hearts", "{} was made by")))
    }

    @Test("the word index finds exactly the pairs the rule finds, on the shipped candidates")
    func indexAgreesWithPairs() {
        let probe = KnowledgeProbe.general
        let edits = [
            EditRequest(subject: "France", prompt: "{} is a country in", targetNew: "Asia"),
            EditRequest(subject: "Danielle Darrieux", prompt: "The mother tongue of {} is", targetNew: "English"),
            EditRequest(subject: "The Eiffel Tower", prompt: "{} is in", targetNew: "Rome"),
            EditRequest(subject: "Toko Yasuda", prompt: "{} was born in Japan and plays the", targetNew: "piano"),
            EditRequest(subject: "Monday", prompt: "The day before {} is", targetNew: "Friday"),
        ]
        let all = Array(probe.candidates.indices)
        let pairwise = Set(all.filter { index in edits.contains { KnowledgeProbe.overlaps(probe.candidates[index], $0) } })
        let indexed = probe.touched(by: edits, among: all)
        #expect(indexed == pairwise)
        func index(_ filledPrompt: String) -> Int { all.first { probe.candidates[$0].request.filledPrompt == filledPrompt } ?? -1 }
        // France as subject and as answer, Japan named in an edited prompt, Monday as an answer.
        for touched in ["The capital of France is", "Paris is the capital of", "Marseille is a city in", "The capital of Japan is",
                        "The Eiffel Tower is located in the city of", "The day after Sunday is", "The day after Monday is"] {
            #expect(indexed.contains(index(touched)), "\(touched) is not excluded")
        }
        for untouched in ["The capital of Italy is", "The Louvre is located in the city of", "The day after Tuesday is"] {
            #expect(index(untouched) >= 0 && !indexed.contains(index(untouched)), "\(untouched) is excluded")
        }
        #expect(probe.touched(by: [], among: all).isEmpty)
        #expect(probe.touched(by: edits, among: []).isEmpty)
    }

    @Test("the shipped candidates are distinct, fill their prompt, and have a canonical text of one line each")
    func shippedCandidates() {
        let candidates = KnowledgeProbe.general.candidates
        #expect(candidates.count >= 300, "\(candidates.count) candidates")
        #expect(Set(candidates).count == candidates.count)
        #expect(Set(candidates.map { $0.request.filledPrompt }).count == candidates.count, "two candidates share a prompt")
        #expect(candidates.allSatisfy { $0.prompt.contains("{}") && !$0.answer.isEmpty && !$0.answer.hasPrefix(" ") })
        #expect(KnowledgeProbe.general.canonicalText.split(separator: "\n").count == candidates.count)
    }

    @Test("known: the tiny model's own facts are known, general knowledge and counterfactual answers are not")
    func knownOnTinyModel() throws {
        let (model, tokenizer) = try SolverFixtures.tinyFactsModel()
        let facts = Array(try SolverFixtures.tinyFacts().prefix(12))
        let own = KnowledgeProbe(candidates: facts.map { KnowledgeFact(subject: $0.subject, prompt: $0.prompt, answer: $0.targetTrue ?? "") })
        #expect(try own.known(model: model, tokenizer: tokenizer) == Array(0..<12))
        let counterfactual = KnowledgeProbe(candidates: facts.map { KnowledgeFact(subject: $0.subject, prompt: $0.prompt, answer: $0.targetNew) })
        #expect(try counterfactual.known(model: model, tokenizer: tokenizer).isEmpty)
        // Mixed: the answered flags line up with the candidates asked about.
        let mixed = KnowledgeProbe(candidates: Array(own.candidates.prefix(3)) + Array(counterfactual.candidates.prefix(2)))
        #expect(try mixed.answered([4, 0, 3, 2], model: model, tokenizer: tokenizer) == [false, true, false, true])
    }

    @Test("SmolLM2-135M knows at least 100 of the shipped candidates top-1",
          .enabled(if: FileManager.default.fileExists(atPath: SolverFixtures.defaultModelURL.path)))
    func smolLM2Knows() throws {
        let (model, tokenizer) = try SolverFixtures.smolLM2()
        let probe = KnowledgeProbe.general
        let start = Date()
        let known = try probe.known(model: model, tokenizer: tokenizer)
        let seconds = Date().timeIntervalSince(start)
        var byTemplate: [String: (known: Int, all: Int)] = [:]
        for (index, fact) in probe.candidates.enumerated() {
            byTemplate[fact.prompt, default: (0, 0)].all += 1
            if known.contains(index) { byTemplate[fact.prompt, default: (0, 0)].known += 1 }
        }
        for (template, counts) in byTemplate.sorted(by: { $0.key < $1.key }) { print("  \(counts.known)/\(counts.all)  \(template)") }
        print("knowledge probe: SmolLM2 knows \(known.count) of \(probe.candidates.count) candidates top-1 (\(String(format: "%.1f", seconds)) s)")
        #expect(known.count >= 100, "SmolLM2 knows \(known.count) of \(probe.candidates.count)")
        // What one version's check costs beside the probe perplexity: all known, and a sample of 128.
        func timed(_ body: () throws -> Void) rethrows -> String {
            let start = Date()
            try body()
            return String(format: "%.2f s", Date().timeIntervalSince(start))
        }
        let perplexity = timed { _ = HealthProbe.perplexity(model: model, tokenizer: tokenizer) }
        var stillKnown: [Bool] = []
        let all = try timed { stillKnown = try probe.answered(known, model: model, tokenizer: tokenizer) }
        #expect(stillKnown.allSatisfy { $0 })  // the base-known set is known on the base model: accuracy 1
        let sample = try timed { _ = try probe.answered((0..<128).map { known[$0 * known.count / 128] }, model: model, tokenizer: tokenizer) }
        print("knowledge probe: probe perplexity \(perplexity), \(known.count) known candidates \(all), a sample of 128 \(sample)")
    }
}
