// HealthProbe on the tiny-facts-gpt2 model: the perplexity against log-probabilities read one
// prefix at a time through another runtime path, windowing past the 64-token context, the
// teacher-forced top-1 test on facts the model knows and on counterfactual targets, and the
// delta norm from factors against the dense product.
import Foundation
import Models
import Tensors
import Testing
@testable import Solvers

@Suite("Health probe")
struct HealthProbeTests {
    @Test("perplexity of a short text equals exp(mean NLL) from per-prefix log-probabilities")
    func perplexityMatchesPrefixes() throws {
        let tiny = try TinyFacts()
        let text = "The garden was quiet in the morning, and the river ran past the old bridge."
        let ids = FactTokenization.text(text, tokenizer: tiny.tokenizer)
        try #require(ids.count > 4 && ids.count <= tiny.model.configuration.contextLength)
        let prefixes = (1..<ids.count).map { Array(ids[0..<$0]) }
        let rows = tiny.model.logProbabilities(prompts: prefixes, positions: prefixes.map { $0.count - 1 })
        var nll = 0.0
        for (r, prefix) in prefixes.enumerated() { nll -= Double(rows[r, ids[prefix.count]]) }
        let expected = exp(nll / Double(prefixes.count))
        let measured = HealthProbe.perplexity(of: text, model: tiny.model, tokenizer: tiny.tokenizer)
        #expect(measured.predictedTokens == ids.count - 1)
        let difference = abs(measured.value - expected) / expected
        #expect(difference < 1e-4, "perplexity \(measured.value) vs \(expected): relative difference \(difference)")
    }

    @Test("the probe is a few hundred tokens, cut into context-length windows, with a finite perplexity")
    func probeWindows() throws {
        let tiny = try TinyFacts()
        let ids = FactTokenization.text(HealthProbe.text, tokenizer: tiny.tokenizer)
        #expect(ids.count >= 300, "the probe has \(ids.count) tokens")
        let window = tiny.model.configuration.contextLength
        let windows = (ids.count + window - 1) / window
        let probe = HealthProbe.perplexity(model: tiny.model, tokenizer: tiny.tokenizer)
        #expect(probe.predictedTokens == ids.count - windows)  // each window's first token is context only
        #expect(probe.value.isFinite && probe.value > 1, "perplexity \(probe.value)")
        // The same probe twice gives the same number (no hidden state between calls).
        #expect(HealthProbe.perplexity(model: tiny.model, tokenizer: tiny.tokenizer) == probe)
    }

    @Test("top-1: the facts the model knows pass with their true target, fail with the counterfactual one")
    func topOneOnKnownFacts() throws {
        let tiny = try TinyFacts()
        let facts = Array(tiny.requests.prefix(8))
        try #require(facts.count == 8 && facts.allSatisfy { $0.targetTrue != nil })
        let known = facts.map { fact -> EditRequest in
            var copy = fact
            copy.targetNew = fact.targetTrue ?? ""
            return copy
        }
        #expect(try HealthProbe.topOne(model: tiny.model, tokenizer: tiny.tokenizer, facts: known) == Array(repeating: true, count: 8))
        #expect(try HealthProbe.topOne(model: tiny.model, tokenizer: tiny.tokenizer, facts: facts) == Array(repeating: false, count: 8))
        #expect(try HealthProbe.topOne(model: tiny.model, tokenizer: tiny.tokenizer, facts: []) == [])
    }

    @Test("‖U Vᵀ‖ from the factors equals the norm of the dense product; opposite deltas cancel")
    func normFromFactors() {
        var generator = SeededGenerator(seed: 31)
        let u = Matrix<Double>.gaussian(rows: 128, cols: 5, generator: &generator).toFloat()
        let v = Matrix<Double>.gaussian(rows: 512, cols: 5, generator: &generator).toFloat()
        let dense = u.toDouble().multiplied(by: v.toDouble(), transposeOther: true).frobeniusNorm
        let fromFactors = HealthProbe.frobeniusNorm(u: u, v: v)
        let difference = abs(fromFactors - dense) / dense
        #expect(difference < 1e-10, "norm \(fromFactors) vs dense \(dense): relative difference \(difference)")
        let cancelled = HealthProbe.frobeniusNorm(u: u.appendingColumns(u.map { -$0 }), v: v.appendingColumns(v))
        #expect(cancelled < 1e-6 * dense, "U Vᵀ − U Vᵀ has norm \(cancelled)")
        #expect(HealthProbe.frobeniusNorm(u: Matrix<Float>(rows: 128, cols: 0), v: Matrix<Float>(rows: 512, cols: 0)) == 0)
    }
}
