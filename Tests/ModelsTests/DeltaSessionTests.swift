// The δ-optimisation session (EditableModel.deltaSession): its gradient against finite
// differences (Float64 tiny models: relative error < 1e-6; Float32 default model: < 1e-2), and its
// forward values against the plain forward pass.
import Foundation
import Models
import Tensors
import Testing

/// A loss over several prompts mixing NLL targets (before, at and after the δ position) and KL terms.
private struct LossSetup {
    var prompts: [[Int]]
    var deltaPositions: [Int]
    var tokenTargets: [TokenTarget]
    var tokenWeights: [Float]
    var distributionTargets: [DistributionTarget]
    var klWeights: [Float]

    init(model: any TransformerModel, seed: UInt64, lengths: [Int]) {
        var g = SeededGenerator(seed: seed)
        let V = model.configuration.vocabularySize
        prompts = lengths.map { n in (0..<n).map { _ in Int(g.next() % UInt64(V)) } }
        deltaPositions = lengths.map { $0 / 2 }
        tokenTargets = []
        tokenWeights = []
        for (p, prompt) in prompts.enumerated() {
            // The last prompt has a target before its δ position only: constant, no active rows.
            let positions = p == prompts.count - 1 ? [0] : [deltaPositions[p], prompt.count - 1, max(deltaPositions[p] - 1, 0)]
            for position in positions {
                tokenTargets.append(TokenTarget(prompt: p, position: position, tokenID: Int(g.next() % UInt64(V))))
                tokenWeights.append(Float(1 + p) / 4)
            }
        }
        // Reference distributions taken from other prompts, so the KL terms are far from zero.
        let reference = model.logProbabilities(prompts: [prompts[1], prompts[0]],
                                               positions: [prompts[1].count - 1, prompts[0].count - 1])
        distributionTargets = [
            DistributionTarget(prompt: 0, position: prompts[0].count - 1, referenceLogProbabilities: reference.row(0)),
            DistributionTarget(prompt: 1, position: prompts[1].count - 1, referenceLogProbabilities: reference.row(1)),
        ]
        klWeights = [0.5, 0.0625]
    }

    func evaluate(_ session: DeltaSession, _ delta: [Float]) -> DeltaEvaluation {
        session.evaluate(delta: delta, tokenTargets: tokenTargets, tokenWeights: tokenWeights,
                         distributionTargets: distributionTargets, klWeights: klWeights)
    }
}

@Suite("Delta session")
struct DeltaSessionTests {
    @Test("Float64 gradient equals Richardson-extrapolated central differences (rel. error < 1e-6)",
          arguments: ["tiny-llama", "tiny-gpt2", "tiny-facts-gpt2", "tiny-mistral", "tiny-llama3", "tiny-qwen2", "tiny-phi3", "tiny-gptj", "tiny-gemma3"])
    func float64Gradient(folder: String) throws {
        let model = try ModelLoader.load(url: Fixtures.url(folder), precision: .float64)
        let C = model.configuration.hiddenSize
        let setup = LossSetup(model: model, seed: 7, lengths: [6, 9, 4, 5])
        for layer in [0, model.configuration.layerCount - 1] {
            let session = model.deltaSession(prompts: setup.prompts, deltaPositions: setup.deltaPositions, layer: layer)
            var g = SeededGenerator(seed: 11)
            // δ on a 2⁻⁸ grid so that δ ± 2⁻¹¹ is exact in Float.
            let delta = (0..<C).map { _ in Float((g.nextGaussian() * 64).rounded()) / 256 }
            let analytic = setup.evaluate(session, delta).gradient.map(Double.init)
            func derivative(_ i: Int, _ h: Float) -> Double {
                var plus = delta, minus = delta
                plus[i] += h
                minus[i] -= h
                return (setup.evaluate(session, plus).loss - setup.evaluate(session, minus).loss) / Double(plus[i] - minus[i])
            }
            let numeric = (0..<C).map { i in
                let coarse = derivative(i, 0x1p-10), fine = derivative(i, 0x1p-11)
                return (4 * fine - coarse) / 3
            }
            let difference = zip(analytic, numeric).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            let norm = numeric.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(norm > 1e-3, "\(folder) layer \(layer): gradient too small to test (\(norm))")
            #expect(difference / norm < 1e-6, "\(folder) layer \(layer): relative error \(difference / norm)")
        }
    }

    @Test("at δ = 0 the session reproduces the forward pass; its base values are the model's edit values",
          arguments: ["tiny-llama/model.gguf", "tiny-gemma3"])
    func forwardValues(fixture: String) throws {
        let model = try ModelLoader.load(url: Fixtures.url(fixture))
        let setup = LossSetup(model: model, seed: 3, lengths: [5, 8, 7, 6])
        let session = model.deltaSession(prompts: setup.prompts, deltaPositions: setup.deltaPositions, layer: 0)
        let values = model.editValues(prompts: setup.prompts, positions: setup.deltaPositions, layer: 0)
        #expect(session.baseValues.maxAbsDifference(values) < 1e-5)
        let residuals = model.residuals(prompts: setup.prompts, positions: setup.deltaPositions, layer: 0)
        // Gemma-3's edit value is the MLP output before its norm, not the residual stream.
        #expect((values.maxAbsDifference(residuals) < 1e-6) == (model.configuration.architecture != .gemma3))
        let result = setup.evaluate(session, [Float](repeating: 0, count: model.configuration.hiddenSize))
        let logProbabilities = model.logProbabilities(prompts: setup.tokenTargets.map { setup.prompts[$0.prompt] },
                                                      positions: setup.tokenTargets.map(\.position))
        let expected = setup.tokenTargets.enumerated().map { Double(logProbabilities[$0.offset, $0.element.tokenID]) }
        let error = maxAbsDifference(result.targetLogProbabilities.map(Double.init), expected)
        #expect(error < 1e-5, "target log p max |Δ| \(error)")
        var loss = -zip(expected, setup.tokenWeights).reduce(0) { $0 + $1.0 * Double($1.1) }
        loss += zip(result.klDivergences, setup.klWeights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(loss - result.loss) < 1e-4 * max(1, abs(loss)), "loss \(result.loss) vs \(loss)")
        #expect(result.klDivergences.allSatisfy { $0 > 0 })
        for (i, target) in setup.tokenTargets.enumerated() {
            let row = logProbabilities.row(i)
            let top = row.indices.max { row[$0] < row[$1] }
            #expect(result.targetIsTop1[i] == (top == target.tokenID))
        }
    }

    @Test("Float32 gradient on the default model at layer 4: directional and top coordinates (rel. error < 1e-2)")
    func float32Gradient() throws {
        let model = try SharedModels.smol()
        let C = model.configuration.hiddenSize
        let setup = LossSetup(model: model, seed: 5, lengths: [7, 10, 6, 5])
        let session = model.deltaSession(prompts: setup.prompts, deltaPositions: setup.deltaPositions, layer: 4)
        var g = SeededGenerator(seed: 9)
        let delta = (0..<C).map { _ in Float(g.nextGaussian() * 0.5) }
        let gradient = setup.evaluate(session, delta).gradient.map(Double.init)
        let norm = gradient.reduce(0) { $0 + $1 * $1 }.squareRoot()
        try #require(norm > 0)
        func lossAlong(_ direction: [Double], _ step: Double) -> Double {
            setup.evaluate(session, zip(delta, direction).map { $0 + Float(step * $1) }).loss
        }
        // Along the gradient: d/dε loss(δ + ε ĝ) = ‖g‖.
        let unit = gradient.map { $0 / norm }
        let eps = 0.05
        let directional = (lossAlong(unit, eps) - lossAlong(unit, -eps)) / (2 * eps)
        #expect(abs(directional - norm) / norm < 1e-2, "directional derivative \(directional) vs ‖g‖ \(norm)")
        // The three largest coordinates.
        for i in gradient.indices.sorted(by: { abs(gradient[$0]) > abs(gradient[$1]) }).prefix(3) {
            var e = [Double](repeating: 0, count: C)
            e[i] = 1
            let numeric = (lossAlong(e, eps) - lossAlong(e, -eps)) / (2 * eps)
            #expect(abs(numeric - gradient[i]) / abs(gradient[i]) < 1e-2, "coordinate \(i): \(numeric) vs \(gradient[i])")
        }
    }
}
