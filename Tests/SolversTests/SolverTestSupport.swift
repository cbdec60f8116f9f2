// Shared set-up of the Solvers tests that run real models: the tiny-facts-gpt2 fixture with a
// corpus of its own fact sentences, and the default SmolLM2 model with the Wikipedia sample from
// scripts/fetch-corpus. Files are found from #filePath and the environment, never /work/shared.
import Foundation
import Models
import Solvers
import Tensors
import Testing

enum SolverFixtures {
    static let tinyFactsFolder = testsFolder.appendingPathComponent("Fixtures/tiny-facts-gpt2")

    static var cacheFolder: URL {
        let environment = ProcessInfo.processInfo.environment
        if let cache = environment["MLEDIT_CACHE"], !cache.isEmpty { return URL(fileURLWithPath: cache) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/mledit")
    }

    /// $MLEDIT_MODEL, else $MLEDIT_CACHE/SmolLM2-135M-Instruct.Q4_1.gguf.
    static var defaultModelURL: URL {
        if let path = ProcessInfo.processInfo.environment["MLEDIT_MODEL"], !path.isEmpty { return URL(fileURLWithPath: path) }
        return cacheFolder.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    /// The Wikipedia sample written by scripts/fetch-corpus.
    static var wikipediaCorpusURL: URL { cacheFolder.appendingPathComponent("enwiki-sample.txt") }

    static func tinyFactsModel() throws -> (model: any TransformerModel, tokenizer: Tokenizer) {
        (try ModelLoader.load(url: tinyFactsFolder),
         try Tokenizer(tokenizerJSON: tinyFactsFolder.appendingPathComponent("tokenizer.json")))
    }

    static func tinyFacts() throws -> [EditRequest] {
        try FactsFile.load(path: tinyFactsFolder.appendingPathComponent("facts.json").path)
    }

    /// The sentences tiny-facts-gpt2 was trained on, as far as facts.json shows them (rewrite,
    /// paraphrase and extra prompts completed with the true object), three to a JSONL record in a
    /// fixed shuffled order: the "ordinary text" of this model.
    static func tinyFactsCorpus() throws -> URL {
        let data = try Data(contentsOf: tinyFactsFolder.appendingPathComponent("facts.json"))
        let records = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        var sentences: [String] = []
        for record in records {
            let rewrite = try #require(record["requested_rewrite"] as? [String: Any])
            let subject = try #require(rewrite["subject"] as? String)
            let prompt = try #require(rewrite["prompt"] as? String)
            let truth = try #require((rewrite["target_true"] as? [String: Any])?["str"] as? String)
            let others = (record["paraphrase_prompts"] as? [String] ?? []) + (record["extra_prompts"] as? [String] ?? [])
            for text in [prompt.replacingOccurrences(of: "{}", with: subject)] + others {
                sentences.append(text + " " + truth + ".")
            }
        }
        var generator = SeededGenerator(seed: 0)
        sentences.shuffle(using: &generator)
        var lines: [String] = []
        for start in stride(from: 0, to: sentences.count, by: 3) {
            let text = sentences[start..<min(sentences.count, start + 3)].joined(separator: " ")
            let json = try JSONSerialization.data(withJSONObject: ["text": text])
            lines.append(String(decoding: json, as: UTF8.self))
        }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("mledit-tiny-facts-corpus-\(ProcessInfo.processInfo.processIdentifier).jsonl")
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// The default model, or a recorded issue when it is missing.
    static func smolLM2() throws -> (model: any TransformerModel, tokenizer: Tokenizer) {
        let url = defaultModelURL
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("default model missing at \(url.path) (run `make test`, or set MLEDIT_MODEL)")
            throw CancellationError()
        }
        let tokenizerURL = testsFolder.appendingPathComponent("Fixtures/smollm2/tokenizer.json")
        return (try ModelLoader.load(url: url), try Tokenizer(tokenizerJSON: tokenizerURL))
    }

    /// First-token argmax after each neighbourhood prompt of each request.
    static func neighborhoodArgmax(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest]) -> [Int] {
        let prompts = requests.flatMap { $0.neighborhood }.map { FactTokenization.text($0, tokenizer: tokenizer) }
        if prompts.isEmpty { return [] }
        let logp = model.logProbabilities(prompts: prompts, positions: prompts.map { $0.count - 1 })
        return (0..<prompts.count).map { i in
            let row = logp.row(i)
            return row.indices.max(by: { row[$0] < row[$1] }) ?? -1
        }
    }

    /// The share of positions where two argmax lists agree.
    static func agreement(_ a: [Int], _ b: [Int]) -> Double {
        a.isEmpty ? 1 : Double(zip(a, b).filter { $0 == $1 }.count) / Double(a.count)
    }
}
