// The CounterFact evaluation on the tiny-facts-gpt2 model, which knows every fact of its
// facts.json: probabilities against the fixture's golden per-token log-probabilities (computed
// with transformers), the per-token NLL formula by hand, batching invariance, greedy continuation
// against generate, metrics before and after a hand-made rank-one edit, and the summary rules.
import Foundation
import Models
import Tensors
import Testing
@testable import Solvers

/// The fixture model, its tokenizer and facts, loaded once per test.
struct TinyFacts {
    static let folder = testsFolder.appendingPathComponent("Fixtures/tiny-facts-gpt2")
    let model: any TransformerModel
    let tokenizer: Tokenizer
    let requests: [EditRequest]

    init() throws {
        model = try ModelLoader.load(url: Self.folder)
        tokenizer = try Tokenizer(tokenizerJSON: Self.folder.appendingPathComponent("tokenizer.json"))
        requests = try FactsFile.load(path: Self.folder.appendingPathComponent("facts.json").path)
    }

    /// The fixture's JSON file `name` as a JSON value.
    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(name)))
    }
}

/// Largest |a − b| / max(|b|, floor) over pairs.
func largestRelativeDifference(_ pairs: [(Double, Double)], floor: Double = 1e-12) -> Double {
    pairs.map { abs($0 - $1) / max(abs($1), floor) }.max() ?? 0
}

@Suite("CounterFact evaluation")
struct EvaluationTests {
    @Test("the unedited model: efficacy 0, paraphrase 0, top-1 0, neighbourhood kept")
    func unedited() throws {
        let tiny = try TinyFacts()
        let report = try CounterFactEvaluation.evaluate(model: tiny.model, tokenizer: tiny.tokenizer, requests: tiny.requests)
        #expect(report.count == 150 && report.countWithTargetTrue == 150)
        #expect(report.efficacy == 0)
        #expect(report.paraphrase == 0)
        #expect(report.top1 == 0)
        #expect(report.score == 0)
        #expect(try #require(report.efficacyMagnitude) < -0.9)
        #expect(report.facts.allSatisfy { $0.rewrite.probabilityTrue ?? 0 > 0.9 })
        // Each neighbourhood prompt is scored against its own answer (the fixture's
        // neighborhood_answers), which the model knows: every neighbour prefers it to target_new.
        #expect(tiny.requests.allSatisfy { $0.neighborhoodAnswers.count == $0.neighborhood.count && !$0.neighborhood.isEmpty })
        #expect(try #require(report.neighborhood) >= 0.99)
    }

    @Test("probabilities equal exp(mean log p) of the golden per-token log-probabilities")
    func goldenProbabilities() throws {
        let tiny = try TinyFacts()
        let report = try CounterFactEvaluation.evaluate(model: tiny.model, tokenizer: tiny.tokenizer, requests: tiny.requests)
        let golden = try #require(try TinyFacts.json("golden.json") as? [String: Any])
        let perFact = try #require(golden["per_fact"] as? [[String: Any]])
        #expect(perFact.count == report.count)
        func probability(_ entry: Any?) throws -> Double {
            let values = try #require((entry as? [String: Any])?["target_logprobs"] as? [Double])
            return exp(values.reduce(0, +) / Double(values.count))
        }
        var pairs: [(Double, Double)] = []
        for (fact, entry) in zip(report.facts, perFact) {
            let rewrite = entry["rewrite"] as? [String: Any]
            #expect(rewrite?["prompt"] as? String == fact.rewrite.prompt)
            pairs.append((try #require(fact.rewrite.probabilityTrue), try probability(rewrite)))
            pairs.append((fact.rewrite.probabilityNew, try probability(entry["target_new_on_rewrite_prompt"])))
            let paraphrases = try #require(entry["paraphrases"] as? [Any])
            #expect(paraphrases.count == fact.paraphrases.count)
            for (score, golden) in zip(fact.paraphrases, paraphrases) {
                pairs.append((try #require(score.probabilityTrue), try probability(golden)))
            }
        }
        // Float32 logits within ±23 (|Δ| ~1e-5) give relative errors ~1e-4 on probabilities.
        let worst = largestRelativeDifference(pairs, floor: 1e-30)
        #expect(worst < 2e-3, "largest relative difference \(worst) over \(pairs.count) probabilities")
    }

    @Test("mean per-token NLL by hand with logProbabilities, single- and multi-token targets")
    func perTokenFormula() throws {
        let tiny = try TinyFacts()
        let scorer = EvaluationScorer()
        var checked = 0
        var multiToken = 0
        for request in tiny.requests.prefix(40) {
            let prompt = FactTokenization.text(request.filledPrompt, tokenizer: tiny.tokenizer)
            let target = try FactTokenization.target(request.targetNew, label: request.label, tokenizer: tiny.tokenizer)
            var logProbabilities: [Double] = []
            var top1 = true
            for (j, token) in target.enumerated() {
                let prefix = prompt + target[..<j]
                let row = tiny.model.logProbabilities(prompts: [prefix], positions: [prefix.count - 1]).row(0)
                logProbabilities.append(Double(row[token]))
                if row.indices.contains(where: { $0 != token && row[$0] >= row[token] }) { top1 = false }
            }
            let expected = exp(logProbabilities.reduce(0, +) / Double(target.count))
            let score = scorer.score(model: tiny.model, queries: [ScoringQuery(prompt: prompt, target: target)])[0]
            // One packed batch against one prompt per call: float32 sums in another order (|log p| ≤ 25).
            #expect(abs(score.probability - expected) <= 2e-5 * expected,
                    "\(request.label): \(score.probability) vs \(expected)")
            #expect(score.allTop1 == top1)
            #expect(abs(score.meanNLL - (-logProbabilities.reduce(0, +) / Double(target.count))) < 2e-5)
            checked += 1
            if target.count > 1 { multiToken += 1 }
        }
        #expect(checked == 40 && multiToken >= 2, "\(multiToken) multi-token targets among \(checked)")
    }

    @Test("scores do not depend on batch limits or on shared prefixes")
    func batchingInvariance() throws {
        let tiny = try TinyFacts()
        var queries: [ScoringQuery] = []
        for request in tiny.requests.prefix(12) {
            let prompt = FactTokenization.text(request.filledPrompt, tokenizer: tiny.tokenizer)
            for target in [request.targetNew, request.targetTrue ?? request.targetNew] {
                queries.append(ScoringQuery(prompt: prompt, target: try FactTokenization.target(target, label: "", tokenizer: tiny.tokenizer)))
            }
        }
        queries.append(queries[0])   // a repeated query
        // A query whose prompt is one token shorter than another's, its target that token first.
        let shorter = ScoringQuery(prompt: Array(queries[2].prompt.dropLast()), target: [queries[2].prompt.last!] + queries[2].target)
        queries.insert(shorter, at: 0)
        queries.append(shorter)
        let wide = EvaluationScorer().score(model: tiny.model, queries: queries)
        let narrow = EvaluationScorer(maxTokensPerForward: 20, maxRowsPerForward: 3).score(model: tiny.model, queries: queries)
        let single = queries.map { EvaluationScorer().score(model: tiny.model, queries: [$0])[0] }
        var pairs: [(Double, Double)] = []
        for i in queries.indices {
            #expect(wide[i].tokenLogProbabilities.count == queries[i].target.count)
            #expect(wide[i].allTop1 == narrow[i].allTop1 && wide[i].allTop1 == single[i].allTop1)
            for (a, (b, c)) in zip(wide[i].tokenLogProbabilities, zip(narrow[i].tokenLogProbabilities, single[i].tokenLogProbabilities)) {
                pairs.append((a, b))
                pairs.append((a, c))
            }
        }
        let worst = pairs.map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-4, "largest |Δ log p| \(worst)")
        #expect(wide.last == wide.first && wide[wide.count - 2] == wide[1])
        // Every true target is top-1 on its own prompt (the model knows the facts).
        #expect(stride(from: 2, to: 25, by: 2).allSatisfy { wide[$0].allTop1 })
    }

    @Test("log-probabilities at several positions of a prompt equal one position per prompt")
    func severalPositionsPerPrompt() throws {
        let tiny = try TinyFacts()
        let prompts = try tiny.requests.prefix(6).map { request in
            FactTokenization.text(request.filledPrompt, tokenizer: tiny.tokenizer)
                + (try FactTokenization.target(request.targetNew, label: request.label, tokenizer: tiny.tokenizer))
        }
        let positions = prompts.map { Array(stride(from: $0.count - 1, through: 0, by: -2)) }   // descending, every other
        let together = tiny.model.logProbabilities(prompts: prompts, positionsPerPrompt: positions)
        #expect(together.rows == positions.map(\.count).reduce(0, +))
        var row = 0, worst: Float = 0
        for (prompt, list) in zip(prompts, positions) {
            for position in list {
                let alone = tiny.model.logProbabilities(prompts: [prompt], positions: [position]).row(0)
                worst = max(worst, zip(together.row(row), alone).map { abs($0 - $1) }.max() ?? 0)
                row += 1
            }
        }
        #expect(worst < 1e-4, "largest |Δ log p| \(worst)")
        #expect(tiny.model.logProbabilities(prompts: prompts, positionsPerPrompt: prompts.map { _ in [] }).rows == 0)
    }

    @Test("greedy continuations equal generate, also in small batches")
    func greedyMatchesGenerate() throws {
        let tiny = try TinyFacts()
        let prompts = tiny.requests.prefix(6).map { FactTokenization.text($0.filledPrompt, tokenizer: tiny.tokenizer) }
        for scorer in [EvaluationScorer(), EvaluationScorer(maxTokensPerForward: 16, maxRowsPerForward: 2)] {
            let continuations = scorer.greedyContinuations(model: tiny.model, prompts: prompts, tokenCount: 4)
            for (prompt, continuation) in zip(prompts, continuations) {
                let generated = tiny.model.generate(prompt: prompt, maxNewTokens: 4,
                                                    sampling: SamplingOptions(stopTokenIDs: []))
                #expect(continuation == generated.tokens)
            }
        }
        // The context (64 positions) bounds a continuation.
        let long = Array(repeating: prompts[0][0], count: 62)
        let bounded = EvaluationScorer().greedyContinuations(model: tiny.model, prompts: [long], tokenCount: 5)
        #expect(bounded[0].count == 3)
        // A stop token ends a continuation and is kept.
        let first = EvaluationScorer().greedyContinuations(model: tiny.model, prompts: [prompts[0]], tokenCount: 1)[0][0]
        let stopped = EvaluationScorer().greedyContinuations(model: tiny.model, prompts: [prompts[0]], tokenCount: 4, stopTokenID: first)
        #expect(stopped[0] == [first])
    }

    @Test("a hand-made rank-one edit of the last MLP flips its fact and moves the metrics")
    func editMovesMetrics() throws {
        let tiny = try TinyFacts()
        let requests = Array(tiny.requests.prefix(20))
        let before = try CounterFactEvaluation.evaluate(model: tiny.model, tokenizer: tiny.tokenizer, requests: requests)
        // The first fact with a one-token target_new: optimise δ at the last prompt position after
        // the last block, then write it into that block's MLP output projection, W' k = W k + δ.
        let index = try #require(try requests.firstIndex { request in
            try FactTokenization.target(request.targetNew, label: "", tokenizer: tiny.tokenizer).count == 1
        })
        let request = requests[index]
        let layer = tiny.model.configuration.layerCount - 1
        let prompt = FactTokenization.text(request.filledPrompt, tokenizer: tiny.tokenizer)
        let token = try FactTokenization.target(request.targetNew, label: "", tokenizer: tiny.tokenizer)[0]
        let session = tiny.model.deltaSession(prompts: [prompt], deltaPositions: [prompt.count - 1], layer: layer)
        let targets = [TokenTarget(prompt: 0, position: prompt.count - 1, tokenID: token)]
        var delta = [Float](repeating: 0, count: tiny.model.configuration.hiddenSize)
        var reached = false
        for _ in 0..<300 {
            let result = session.evaluate(delta: delta, tokenTargets: targets, tokenWeights: [1],
                                          distributionTargets: [], klWeights: [])
            if result.targetLogProbabilities[0] > -0.05 { reached = true; break }
            let norm = result.gradient.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for i in delta.indices { delta[i] -= 0.5 * result.gradient[i] / max(norm, 1e-12) }
        }
        #expect(reached, "δ did not make target_new likely")
        let key = tiny.model.keys(prompts: [prompt], positions: [prompt.count - 1], layer: layer).row(0)
        let keySquaredNorm = key.reduce(0) { $0 + $1 * $1 }
        let original = tiny.model.mlpOutputWeight(layer: layer)
        var edited = original
        edited.addProduct(Matrix(rows: delta.count, cols: 1, values: delta),
                          Matrix(rows: 1, cols: key.count, values: key.map { $0 / keySquaredNorm }))
        tiny.model.setMLPOutputWeight(layer: layer, edited)
        let after = try CounterFactEvaluation.evaluate(model: tiny.model, tokenizer: tiny.tokenizer, requests: requests)
        tiny.model.setMLPOutputWeight(layer: layer, original)
        let restored = try CounterFactEvaluation.evaluate(model: tiny.model, tokenizer: tiny.tokenizer, requests: requests)

        #expect(before.facts[index].efficacy == false && before.facts[index].top1 == false)
        #expect(after.facts[index].efficacy == true && after.facts[index].top1 == true)
        #expect(after.facts[index].rewrite.probabilityNew > 0.9)
        #expect(try #require(after.efficacy) >= 1.0 / 20)
        #expect(try #require(after.efficacyMagnitude) > (try #require(before.efficacyMagnitude)) + 0.5 / 20)
        #expect(try #require(after.top1) >= 1.0 / 20)
        #expect(restored == before)
    }

    @Test("facts without target_true are scored on greedy top-1 only")
    func withoutTargetTrue() throws {
        let tiny = try TinyFacts()
        var known = tiny.requests[0]
        known.targetNew = try #require(known.targetTrue)   // what the model already says
        known.targetTrue = nil
        var unknown = tiny.requests[1]
        unknown.targetTrue = nil
        let report = try CounterFactEvaluation.evaluate(model: tiny.model, tokenizer: tiny.tokenizer,
                                                        requests: [known, unknown, tiny.requests[2]])
        #expect(report.count == 3 && report.countWithTargetTrue == 1)
        #expect(report.facts[0].top1 && !report.facts[1].top1)
        #expect(report.facts[0].efficacy == nil && report.facts[0].paraphrases.isEmpty && report.facts[0].neighborhood.isEmpty)
        #expect(report.top1WithoutTargetTrue == 0.5)
        #expect(report.efficacy == 0)
        let json = report.jsonObject()
        #expect(json["n"] as? Int == 3)
        #expect((json["facts"] as? [[String: Any]])?.count == 3)
        #expect((json["facts"] as? [[String: Any]])?[0]["efficacy"] is NSNull)
    }

    @Test("prompts that do not fit the context and empty prompts are errors naming the fact")
    func errors() throws {
        let tiny = try TinyFacts()
        var long = tiny.requests[0]
        long.paraphrases = [String(repeating: "word ", count: 80)]
        #expect(throws: SolverError.self) {
            _ = try CounterFactEvaluation.evaluate(model: tiny.model, tokenizer: tiny.tokenizer, requests: [long])
        }
        var empty = tiny.requests[0]
        empty.neighborhood = [""]
        do {
            _ = try CounterFactEvaluation.evaluate(model: tiny.model, tokenizer: tiny.tokenizer, requests: [empty])
            Issue.record("an empty neighbourhood prompt was accepted")
        } catch let error as SolverError {
            #expect(error.description.contains("neighborhood[0]"))
        }
    }

    @Test("summary: per-fact shares averaged over facts, magnitudes, harmonic-mean score")
    func summaryRules() {
        func score(_ new: Double, _ true_: Double?) -> PromptScore {
            PromptScore(prompt: "p", probabilityNew: new, probabilityTrue: true_, newIsTop1: new > 0.5)
        }
        let a = FactEvaluation(line: 1, subject: "A", targetNew: "x", targetTrue: "y", rewrite: score(0.8, 0.1),
                               paraphrases: [score(0.6, 0.2), score(0.1, 0.3)], neighborhood: [score(0.1, 0.7)])
        let b = FactEvaluation(line: 2, subject: "B", targetNew: "x", targetTrue: "y", rewrite: score(0.2, 0.4),
                               paraphrases: [score(0.3, 0.2)], neighborhood: [score(0.5, 0.4), score(0.6, 0.1), score(0.1, 0.2)])
        let c = FactEvaluation(line: 3, subject: "C", targetNew: "x", targetTrue: nil, rewrite: score(0.9, nil),
                               paraphrases: [], neighborhood: [])
        let report = EvaluationReport(facts: [a, b, c])
        func close(_ x: Double?, _ y: Double) -> Bool { x.map { abs($0 - y) < 1e-12 } ?? false }
        #expect(close(report.efficacy, 0.5))
        #expect(close(report.efficacyMagnitude, (0.7 - 0.2) / 2))
        #expect(close(report.paraphrase, (0.5 + 1) / 2))
        #expect(close(report.paraphraseMagnitude, ((0.4 - 0.2) / 2 + 0.1) / 2))
        #expect(close(report.neighborhood, (1 + 1.0 / 3) / 2))
        #expect(close(report.neighborhoodMagnitude, (0.6 + (-0.1 - 0.5 + 0.1) / 3) / 2))
        #expect(close(report.score, 3 / (1 / 0.5 + 1 / 0.75 + 1 / (2.0 / 3))))
        #expect(close(report.top1, 2.0 / 3))
        #expect(close(report.top1WithoutTargetTrue, 1))
        let empty = EvaluationReport(facts: [])
        #expect(empty.efficacy == nil && empty.score == nil && empty.top1 == nil)
        #expect(empty.jsonObject()["efficacy"] is NSNull)
    }
}
