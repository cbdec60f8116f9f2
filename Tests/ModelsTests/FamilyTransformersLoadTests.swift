// Hugging Face exports of every tiny family, with an edited MLP output, loaded by transformers
// itself (scripts/check-hf-export.py in the venv of scripts/setup-transformers): the class
// transformers picks, the last position's logits and greedy tokens, against the edited model.
// This is what shows the written config.json (sliding window, llama3 rope parameters, fused
// Phi-3 tensors, GPT-J's rotary_dim and lm_head bias, Gemma-3's layer types and RoPE bases) means to transformers what it means here.
import Foundation
import Models
import Tensors
import Testing

@Suite("Family exports loaded by transformers", .serialized)
struct FamilyTransformersLoadTests {
    static let packageRoot = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
    static let cases: [(folder: String, className: String)] = [
        ("tiny-mistral", "MistralForCausalLM"), ("tiny-llama3", "LlamaForCausalLM"), ("tiny-qwen2", "Qwen2ForCausalLM"),
        ("tiny-phi3", "Phi3ForCausalLM"), ("tiny-gptj", "GPTJForCausalLM"), ("tiny-gemma3", "Gemma3ForCausalLM"),
    ]

    /// $MLEDIT_HF_PYTHON, else the venv of scripts/setup-transformers in $MLEDIT_CACHE (~/.cache/mledit).
    static func python() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["MLEDIT_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/mledit").path
        let url = environment["MLEDIT_HF_PYTHON"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: cache).appendingPathComponent("hf-venv/bin/python")
        try #require(FileManager.default.isExecutableFile(atPath: url.path),
                     "no Python with torch/transformers at \(url.path): run scripts/setup-transformers first")
        return url
    }

    /// Runs check-hf-export.py and parses the JSON line it prints last.
    static func check(_ arguments: [String]) throws -> [String: Any] {
        let process = Process()
        process.executableURL = try python()
        process.arguments = [packageRoot.appendingPathComponent("scripts/check-hf-export.py").path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["TOKENIZERS_PARALLELISM"] = "false"
        environment["OMP_NUM_THREADS"] = "1"
        process.environment = environment
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "check-hf-export.py: \(String(decoding: stderr, as: UTF8.self).suffix(2000))")
        let line = String(decoding: stdout, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test("an edited export loads in transformers with the edited model's logits and greedy tokens",
          arguments: 0..<cases.count)
    func load(index: Int) throws {
        let (folder, className) = Self.cases[index]
        let source = Fixtures.url(folder)
        let model = try ModelLoader.load(url: source)
        let layer = model.configuration.layerCount - 1
        var weight = model.mlpOutputWeight(layer: layer)
        for i in stride(from: 0, to: weight.values.count, by: 5) { weight.values[i] -= 0.05 }
        model.setMLPOutputWeight(layer: layer, weight)
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-family-hf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: destination) }
        try CheckpointExport.writeHuggingFace(source: source, overrides: [TensorNaming.mlpOutputWeight(layer: layer): weight],
                                              to: destination)
        let greedyCount = 6
        let result = try Self.check(["load", destination.path, "The Eiffel Tower stands in the middle of the city of", "Paris",
                                     "--greedy", String(greedyCount)])
        #expect(result["class"] as? String == className)
        let ids = ints(result["prompt_ids"])
        try #require(ids.count > 8, "the prompt is longer than the sliding windows")
        let logits = model.logits(prompt: ids)
        let difference = maxAbsDifference(rowDoubles(logits, ids.count - 1), doubles(result["logits"]))
        #expect(difference < 1e-4, "\(folder): max |Δlogit| mledit vs transformers on the export \(difference)")
        let greedy = model.generate(prompt: ids, maxNewTokens: greedyCount, sampling: SamplingOptions(stopTokenIDs: []))
        #expect(greedy.tokens == ints(result["greedy_ids"]), "\(folder): greedy tokens")
    }
}
