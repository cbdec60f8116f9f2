// The tiny family GGUF fixtures (scripts/make-gguf-fixtures) run by llama.cpp itself
// (scripts/check-llamacpp.py, as in LlamaCppTests): that llama.cpp loads each file is the proof
// that its tensor names and metadata keys are llama.cpp's, and its next-token log-probabilities
// must agree with `mledit generate --model` on the same file. llama.cpp ignores Mistral's window
// under general.architecture llama and disables Phi-3's, so those families get a prompt shorter
// than their window. llama.cpp has no gptj architecture, so the GPT-J fixture is not run here.
import Foundation
import Testing

@Suite("Family GGUFs run in llama.cpp", .serialized)
struct LlamaCppFamilyTests {
    /// Largest |Δ log-probability| accepted over mledit's top tokens. llama.cpp keeps its KV cache
    /// in F16, mledit computes in Float32: on these files the two differ by at most 0.0013
    /// (measured); a wrong Q/K order or a swapped gate/up moves them by whole nats.
    static let logProbabilityTolerance = 0.01
    /// Three tokens: shorter than Mistral's window (4) and Phi-3's (5).
    static let shortPrompt = "The cat"
    static let longPrompt = "The capital of France is Paris, and the capital of Italy is"

    static let cases: [(folder: String, prompts: [String])] = [
        ("tiny-mistral", [shortPrompt]),
        ("tiny-llama3", [shortPrompt, longPrompt]),
        ("tiny-qwen2", [shortPrompt, longPrompt]),
        ("tiny-phi3", [shortPrompt]),
    ]

    @Test("llama.cpp loads the family GGUF and its log-probabilities agree with mledit's", arguments: cases.map(\.folder))
    func agrees(folder: String) throws {
        _ = try LlamaCppTests.python()
        let prompts = try #require(Self.cases.first { $0.folder == folder }).prompts
        let gguf = CLIHarness.packageRoot.appendingPathComponent("Tests/Fixtures/\(folder)/model.gguf")
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let runs = try LlamaCppTests.theirs(gguf, prompts, count: 1)
        try #require(runs.count == prompts.count)
        for (prompt, theirs) in zip(prompts, runs) {
            let mine = try LlamaCppTests.mine(prompt, in: directory, model: gguf, count: 1)
            #expect(theirs.promptIDs == mine.promptIDs, "\(folder): llama.cpp tokenizes \(prompt.debugDescription) as \(theirs.promptIDs), mledit as \(mine.promptIDs)")
            #expect(theirs.top.first?.id == mine.top.first?.id, "\(folder) \(prompt.debugDescription): top-1 llama.cpp \(theirs.top.first?.id ?? -1), mledit \(mine.top.first?.id ?? -1)")
            let (difference, shared) = LlamaCppTests.largestDifference(mine, theirs)
            #expect(shared >= LlamaCppTests.topCount - 1, "\(folder) \(prompt.debugDescription): only \(shared) of mledit's top \(LlamaCppTests.topCount) are in llama.cpp's")
            #expect(difference <= Self.logProbabilityTolerance,
                    "\(folder) \(prompt.debugDescription): largest |Δ logprob| over the top \(LlamaCppTests.topCount) \(difference)")
            print("\(folder) \(prompt.debugDescription): largest |Δ logprob| llama.cpp vs mledit over \(shared) shared top-\(LlamaCppTests.topCount) tokens \(difference)")
        }
    }
}
