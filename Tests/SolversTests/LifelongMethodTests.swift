// ENCORE's penalised solve and NAS's norm-aligned targets: their defining properties on random
// Float64 data and on the tiny fixture.
import Foundation
import Models
import Tensors
import Testing
@testable import Solvers

@Suite("ENCORE and NAS")
struct LifelongMethodTests {
    @Test("ENCORE with μ = 0 is MEMIT, equals the dense penalised least squares, and shrinks the update as μ grows")
    func encoreSolve() throws {
        var data = RandomEditData(seed: 7)
        let k = data.keys(4), v = data.values(4)
        let p = problem(data, keys: k, values: v)
        var h = EditHyperparameters(layers: [3], preservationWeight: 2.5)
        let memit = try PreservationSolver.solve(.memit, p, hyperparameters: h)
        h.updateNormLambda = 0
        #expect(relativeDifference(try PreservationSolver.solve(.encore, p, hyperparameters: h).dense(), memit.dense()) < 1e-12)

        var norms: [Double] = []
        for mu in [0.5, 5.0, 50.0] {
            h.updateNormLambda = mu
            let delta = try PreservationSolver.solve(.encore, p, hyperparameters: h).dense()
            // The stationary point of λ‖ΔC0^½‖² + ‖(W+Δ)K − V‖² + μ‖Δ‖²: Δ(λC0 + KKᵀ + μI) = R Kᵀ.
            var a = 2.5 * data.c0
            a.addProduct(k, k, transposeB: true)
            var meanDiagonal = 0.0
            for i in 0..<data.c0.rows { meanDiagonal += 2.5 * data.c0[i, i] }
            meanDiagonal /= Double(data.c0.rows)
            for i in 0..<a.rows { a[i, i] += mu * meanDiagonal }
            let residual = v - data.w.multiplied(by: k)
            let lhs = delta.multiplied(by: a)
            let rhs = residual.multiplied(by: k, transposeOther: true)
            #expect(relativeDifference(lhs, rhs) < 1e-9, "μ = \(mu)")
            norms.append(delta.frobeniusNorm)
        }
        #expect(norms[0] > norms[1] && norms[1] > norms[2] && norms[0] < memit.dense().frobeniusNorm, "\(norms)")
    }

    @Test("the trimmed mean leaves out values above the 95 % quantile")
    func trimmedMean() {
        #expect(NormAlignedTargets.trimmedMean([1, 2, 3, 100], upperQuantile: 0.95) == 2)
        #expect(NormAlignedTargets.trimmedMean([4], upperQuantile: 0.95) == 4)
        let values = (1...20).map(Double.init)
        #expect(NormAlignedTargets.trimmedMean(values, upperQuantile: 0.95) == (1...19).map(Double.init).reduce(0, +) / 19)
    }

    @Test("NAS rescales each v* = Wk + δ to the reference norm and skips facts beyond the bound")
    func nasAlignment() throws {
        let (model, tokenizer) = try SolverFixtures.tinyFactsModel()
        let facts = Array(try SolverFixtures.tinyFacts()[0..<4])
        let h = EditHyperparameters.defaults(for: model.configuration, method: .memit)
        let layer = h.sortedLayers.last!
        let targets = try TargetValueOptimizer.optimize(model: model, tokenizer: tokenizer, requests: facts, prefixes: [],
                                                        layer: layer, hyperparameters: h)
        let before = try NormAlignedTargets.values(model: model, tokenizer: tokenizer, requests: facts, targets: targets, layer: layer)
            .map(NormAlignedTargets.euclideanNorm)
        let reference = try NormAlignedTargets.referenceNorm(model: model, tokenizer: tokenizer, requests: facts,
                                                             hyperparameters: h, prefixes: [])
        #expect(reference > 0 && reference <= before.max()! + 1e-9)

        // A bound every fact passes: every v* ends at the reference norm, and z − δ is unchanged.
        let loose = try NormAlignedTargets.align(model: model, tokenizer: tokenizer, requests: facts, targets: targets, layer: layer,
                                                 norm: reference, skipFactor: 1e6)
        #expect(loose.map(\.normSkipped) == [false, false, false, false])
        let after = try NormAlignedTargets.values(model: model, tokenizer: tokenizer, requests: facts, targets: loose, layer: layer)
            .map(NormAlignedTargets.euclideanNorm)
        for norm in after { #expect(abs(norm - reference) < 1e-3 * reference, "\(norm) against \(reference)") }
        for (old, new) in zip(targets, loose) {
            for c in 0..<old.target.count { #expect(abs((new.target[c] - new.delta[c]) - (old.target[c] - old.delta[c])) < 1e-4) }
        }

        // A bound below the largest v*: that fact keeps z = h (δ = 0), the others are rescaled.
        let largest = before.indices.max { before[$0] < before[$1] }!
        let norm = before[largest] / 1.5
        let strict = try NormAlignedTargets.align(model: model, tokenizer: tokenizer, requests: facts, targets: targets, layer: layer,
                                                  norm: norm, skipFactor: 1.2)
        #expect(strict[largest].normSkipped)
        #expect(strict[largest].delta.allSatisfy { abs($0) < 1e-5 })
        for i in facts.indices where before[i] <= 1.2 * norm { #expect(!strict[i].normSkipped) }
    }

    @Test("an edit with NAS on records which facts it skipped; hyperparameters without ENCORE or NAS encode as before")
    func nasThroughThePlanner() throws {
        let (model, tokenizer) = try SolverFixtures.tinyFactsModel()
        let facts = Array(try SolverFixtures.tinyFacts()[0..<3])
        var h = EditHyperparameters.defaults(for: model.configuration, method: .memit)
        let plain = String(decoding: try h.canonicalJSON(), as: UTF8.self)
        #expect(!plain.contains("nas_") && !plain.contains("update_norm_lambda"))
        let stats = try TinyFactsEditTests.statistics(model: model, tokenizer: tokenizer)
        h.nasTargetNorm = 1e-6   // far below every v*: every fact is skipped and nothing moves
        let encoded = String(decoding: try h.canonicalJSON(), as: UTF8.self)
        #expect(encoded.contains("\"nas_target_norm\"") && encoded.contains("\"nas_skip_factor\""))
        #expect(try JSONDecoder().decode(EditHyperparameters.self, from: h.canonicalJSON()) == h)
        let result = try EditPlanner.computeEdit(model: model, tokenizer: tokenizer, requests: facts, method: .memit,
                                                 hyperparameters: h, statistics: stats)
        #expect(result.facts.map(\.normSkipped) == [true, true, true])
        for fact in result.facts { #expect(abs(fact.logProbabilityAfter - fact.logProbabilityBefore) < 0.05) }
        let encore = EditHyperparameters.defaults(for: model.configuration, method: .encore)
        #expect(encore.updateNormLambda == EditHyperparameters.encoreUpdateNormLambda)
        #expect(encore.layers == EditHyperparameters.defaults(for: model.configuration, method: .memit).layers)
    }
}
