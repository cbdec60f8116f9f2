// Edits of the tiny random Gemma-3 checkpoint (tiny-gemma3, with tiny-llama's tokenizer) are
// refused by EditPlanner with an error naming the reason: target values are optimised in the
// residual stream, which Gemma-3's post-feedforward norm keeps ffn_down from reaching.
import Foundation
import Models
import Tensors
import Testing
@testable import Solvers

@Suite("Edits of tiny-gemma3")
struct Gemma3EditTests {
    static let folder = SolverFixtures.tinyFactsFolder.deletingLastPathComponent().appendingPathComponent("tiny-gemma3")

    @Test("every method refuses a Gemma-3 model before computing anything, leaving the weights alone",
          arguments: EditMethod.allCases)
    func refused(method: EditMethod) throws {
        let model = try ModelLoader.load(url: Self.folder)
        let tokenizer = try Tokenizer(tokenizerJSON: Self.folder.appendingPathComponent("tokenizer.json"))
        let h = EditHyperparameters.defaults(for: model.configuration, method: method)
        let originals = h.layers.map { model.mlpOutputWeight(layer: $0) }
        let request = EditRequest(subject: "Mara Quill", prompt: "{} works as a", targetNew: "baker")
        let error = solverError {
            _ = try EditPlanner.computeEdit(model: model, tokenizer: tokenizer, requests: [request], method: method,
                                            hyperparameters: h, statistics: [:], apply: true)
        }
        guard case .uneditableArchitecture(let architecture, let reason)? = error else {
            Issue.record("expected uneditableArchitecture, got \(String(describing: error))")
            return
        }
        #expect(architecture == "gemma3" && reason.contains("post-feedforward RMSNorm"))
        #expect(error?.description.contains("\n") == false)
        #expect(h.layers.map { model.mlpOutputWeight(layer: $0) } == originals)
    }
}
