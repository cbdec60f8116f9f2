// Several δ in one session (the batched target optimisation): each group's gradient and each
// target's log-probability equal those of a session holding that group's prompts alone, and a
// group left without targets is not run (its gradient is zero, the others' unchanged).
import Foundation
import Models
import Tensors
import Testing

@Suite("Grouped delta session")
struct GroupedDeltaSessionTests {
    /// Two "facts" of two prompts each, with targets at and after the δ position.
    struct Facts {
        var prompts: [[Int]] = []
        var deltaPositions: [Int] = []
        var targets: [[TokenTarget]] = [[], []]     // per fact, in that fact's own prompt numbering

        init(vocabulary: Int) {
            var g = SeededGenerator(seed: 21)
            for length in [7, 9, 6, 8] {
                prompts.append((0..<length).map { _ in Int(g.next() % UInt64(vocabulary)) })
                deltaPositions.append(length / 2)
            }
            for p in 0..<4 {
                let local = p % 2
                for position in [deltaPositions[p], prompts[p].count - 1] {
                    targets[p / 2].append(TokenTarget(prompt: local, position: position, tokenID: Int(g.next() % UInt64(vocabulary))))
                }
            }
        }
    }

    @Test("two groups in one session equal two sessions (Float64), and a group without targets is dropped",
          arguments: ["tiny-llama", "tiny-gpt2"])
    func groupsAreIndependent(folder: String) throws {
        let model = try ModelLoader.load(url: Fixtures.url(folder), precision: .float64)
        let C = model.configuration.hiddenSize, layer = 0
        let facts = Facts(vocabulary: model.configuration.vocabularySize)
        var g = SeededGenerator(seed: 5)
        let deltas = (0..<2).map { _ in (0..<C).map { _ in Float(g.nextGaussian() / 4) } }

        var separate: [DeltaEvaluation] = []
        for f in 0..<2 {
            let session = model.deltaSession(prompts: Array(facts.prompts[(2 * f)..<(2 * f + 2)]),
                                             deltaPositions: Array(facts.deltaPositions[(2 * f)..<(2 * f + 2)]), layer: layer)
            separate.append(session.evaluate(delta: deltas[f], tokenTargets: facts.targets[f],
                                             tokenWeights: [Float](repeating: 0.25, count: facts.targets[f].count),
                                             distributionTargets: [], klWeights: []))
        }
        let joint = model.deltaSession(prompts: facts.prompts, deltaPositions: facts.deltaPositions, layer: layer)
        let shifted = facts.targets[0] + facts.targets[1].map { TokenTarget(prompt: $0.prompt + 2, position: $0.position, tokenID: $0.tokenID) }
        let both = joint.evaluate(deltas: deltas, groups: [0, 0, 1, 1], tokenTargets: shifted,
                                  tokenWeights: [Float](repeating: 0.25, count: shifted.count), distributionTargets: [], klWeights: [])
        // Gradients and log-probabilities come back as Float: equal within a Float rounding.
        func relative(_ a: [Float], _ b: [Float]) -> Double {
            let norm = b.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return maxAbsDifference(a.map(Double.init), b.map(Double.init)) / max(norm, 1e-30)
        }
        for f in 0..<2 {
            #expect(separate[f].gradient.contains { $0 != 0 })
            #expect(relative(both.gradients[f], separate[f].gradient) < 1e-6)
        }
        let logp = separate[0].targetLogProbabilities + separate[1].targetLogProbabilities
        #expect(relative(both.targetLogProbabilities, logp) < 1e-6)
        #expect(abs(both.loss - separate[0].loss - separate[1].loss) < 1e-9 * max(1, abs(both.loss)))

        // Fact 0 finished: its targets are left out, so its rows are not run.
        let second = joint.evaluate(deltas: deltas, groups: [0, 0, 1, 1], tokenTargets: Array(shifted.suffix(facts.targets[1].count)),
                                    tokenWeights: [Float](repeating: 0.25, count: facts.targets[1].count), distributionTargets: [], klWeights: [])
        #expect(second.gradients[0].allSatisfy { $0 == 0 })
        #expect(relative(second.gradients[1], separate[1].gradient) < 1e-6)
    }
}
