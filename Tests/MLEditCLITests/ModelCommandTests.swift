// inspect, tokenize and generate through the command line, on the tiny fixtures and the default
// model, against the reference values in Tests/Fixtures.
import Foundation
import Testing
@testable import MLEditCLI

@Suite("Model commands")
struct ModelCommandTests {
    static let directory = FileManager.default.temporaryDirectory

    /// Gemma-3-270M where `scripts/fetch-model --model gemma3-270m` puts it (tests that need it
    /// are skipped without it).
    static let gemma3 = URL(fileURLWithPath: ProcessInfo.processInfo.environment["MLEDIT_CACHE"] ?? NSHomeDirectory() + "/.cache/mledit")
        .appendingPathComponent("gemma-3-270m-q4_k_m.gguf")

    @Test("Gemma-3-270M through the command line: inspect, tokenize, generate transformers' greedy continuation, commit a fact",
          .enabled(if: FileManager.default.fileExists(atPath: gemma3.path), "Gemma-3-270M not fetched (scripts/fetch-model --model gemma3-270m)"))
    func gemma3CommandLine() throws {
        let inspect = CLIHarness.run(["inspect", Self.gemma3.path], in: Self.directory)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("tokenizer:    SentencePiece BPE, 262144 tokens"))
        let tokens = CLIHarness.run(["tokenize", "--model", Self.gemma3.path, "Hello world"], in: Self.directory)
        #expect(tokens.stdout.hasPrefix("9259 1902\n9259\tHello\t[0, 5)"), "\(tokens.stdout)")
        let golden = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: CLIHarness.fixtures.appendingPathComponent("gemma3/golden.json"))) as? [String: Any])
        let first = try #require((golden["prompts"] as? [[String: Any]])?.first)
        let outcome = CLIHarness.run(["generate", "--model", Self.gemma3.path, "-n", "8", "--json", try #require(first["text"] as? String)],
                                     in: Self.directory)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let generated = try Self.json(outcome)
        #expect(generated["prompt_ids"] as? [Int] == first["ids"] as? [Int])
        #expect(generated["ids"] as? [Int] == first["greedy"] as? [Int])

        // A repository of it takes an edit (few statistics tokens: this checks the chain, not quality),
        // and the edited model states the fact.
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        #expect(CLIHarness.run(["init", "--model", Self.gemma3.path], in: directory).status == 0)
        try #"{"prompt": "{} is located in the city of", "subject": "The Eiffel Tower", "target_new": " Rome"}"#.write(
            to: directory.appendingPathComponent("facts.jsonl"), atomically: true, encoding: .utf8)
        try #"{"mom2_n_tokens": 4000}"#.write(to: directory.appendingPathComponent("h.json"), atomically: true, encoding: .utf8)
        let commit = CLIHarness.run(["commit", "facts.jsonl", "--hparams", "h.json", "--no-health"], in: directory)
        #expect(commit.status == 0, "\(commit.stderr)")
        #expect(CLIHarness.run(["log", "--oneline"], in: directory).stdout.split(separator: "\n").count == 1)
        let edited = CLIHarness.run(["generate", "-n", "2", "The Eiffel Tower is located in the city of"], in: directory)
        #expect(edited.status == 0 && edited.stdout.contains("Rome"), "\(edited.stdout) \(edited.stderr)")
    }

    static func defaultModel() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["MLEDIT_MODEL"] { return URL(fileURLWithPath: path) }
        let cache = environment["MLEDIT_CACHE"] ?? NSHomeDirectory() + "/.cache/mledit"
        let url = URL(fileURLWithPath: cache).appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
        try #require(FileManager.default.fileExists(atPath: url.path), "run scripts/fetch-model first (make test does)")
        return url
    }

    static func json(_ outcome: CommandOutcome) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
    }

    @Test("inspect names each family's positional features", arguments: [
        ("tiny-mistral", ["architecture: llama (mistral)", "sliding window 4"]),
        ("tiny-phi3", ["architecture: llama (phi3)", "sliding window 5"]),
        ("tiny-llama3", ["rope llama3 ×", "original context 64"]),
        ("tiny-gptj", ["architecture: gptj", "rotary dim 8 of head dim 16, parallel attention and MLP"]),
        ("tiny-qwen2", ["q/k/v bias yes"]),
        ("tiny-gemma3", ["architecture: gemma3", "sliding window 5 (rope theta", "global layers 5 (rope theta"]),
    ])
    func inspectFamilies(fixture: String, expected: [String]) throws {
        let outcome = CLIHarness.run(["inspect", CLIHarness.fixtures.appendingPathComponent(fixture).path], in: Self.directory)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        for line in expected { #expect(outcome.stdout.contains(line), "\(fixture): no '\(line)' in \(outcome.stdout)") }
        #expect(!CLIHarness.run(["inspect", CLIHarness.fixtures.appendingPathComponent("tiny-llama").path], in: Self.directory)
            .stdout.contains("positions:"))
    }

    @Test("inspect reports the default model's configuration and all 272 tensors")
    func inspectDefault() throws {
        let outcome = CLIHarness.run(["inspect", try Self.defaultModel().path, "--json"], in: Self.directory)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let object = try Self.json(outcome)
        let configuration = try #require(object["configuration"] as? [String: Any])
        #expect(configuration["architecture"] as? String == "llama")
        #expect(configuration["layer_count"] as? Int == 30)
        #expect(configuration["hidden_size"] as? Int == 576)
        #expect(configuration["intermediate_size"] as? Int == 1536)
        #expect(configuration["key_value_head_count"] as? Int == 3)
        #expect((object["tensors"] as? [[String: Any]])?.count == 272)
        let tokenizer = try #require(object["tokenizer"] as? [String: Any])
        #expect(tokenizer["vocabulary_size"] as? Int == 49152)
        #expect(tokenizer["pre_tokenizer"] as? String == "smollm")
        let text = CLIHarness.run(["inspect", try Self.defaultModel().path], in: Self.directory)
        #expect(text.stdout.contains("blk.0.ffn_down.weight") && text.stdout.contains("Q4_1"))
    }

    @Test("inspect reads a Hugging Face folder (tiny GPT-2)")
    func inspectSafetensors() throws {
        let outcome = CLIHarness.run(["inspect", CLIHarness.fixtures.appendingPathComponent("tiny-gpt2").path, "--json"], in: Self.directory)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let configuration = try #require(try Self.json(outcome)["configuration"] as? [String: Any])
        #expect(configuration["architecture"] as? String == "gpt2")
        #expect(configuration["layer_count"] as? Int == 2)
        #expect(configuration["hidden_size"] as? Int == 64)
    }

    @Test("tokenize gives the reference ids and offsets of the fixture cases")
    func tokenize() throws {
        let data = try Data(contentsOf: CLIHarness.fixtures.appendingPathComponent("smollm2/tokenization.json"))
        let cases = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["cases"] as? [[String: Any]])
        let model = try Self.defaultModel().path
        for testCase in cases.prefix(12) {
            let text = try #require(testCase["text"] as? String)
            if text.isEmpty { continue }
            let outcome = CLIHarness.run(["tokenize", text, "--model", model, "--json"], in: Self.directory)
            #expect(outcome.status == 0)
            let object = try Self.json(outcome)
            #expect(object["ids"] as? [Int] == testCase["ids"] as? [Int], "\(testCase["name"] ?? "")")
            let offsets = (object["tokens"] as? [[String: Any]])?.map { [$0["start"] as? Int ?? -1, $0["end"] as? Int ?? -1] }
            #expect(offsets == testCase["offsets"] as? [[Int]], "\(testCase["name"] ?? "")")
        }
    }

    @Test("generate reproduces the reference greedy continuation of the default model")
    func generate() throws {
        let outcome = CLIHarness.run(["generate", "The capital of France is", "--model", try Self.defaultModel().path,
                                      "--max-tokens", "8", "--json"], in: Self.directory)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let data = try Data(contentsOf: CLIHarness.fixtures.appendingPathComponent("smollm2/logits.json"))
        let prompts = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["prompts"] as? [[String: Any]])
        let reference = try #require(prompts.first { $0["text"] as? String == "The capital of France is" })
        let greedy = try #require((reference["greedy"] as? [String: Any])?["ids"] as? [Int])
        #expect(try Self.json(outcome)["ids"] as? [Int] == Array(greedy.prefix(8)))
        let text = CLIHarness.run(["generate", "The capital of France is", "--model", try Self.defaultModel().path,
                                   "--max-tokens", "3"], in: Self.directory)
        #expect(text.stdout.hasPrefix("The capital of France is Paris."))
    }

    @Test("a missing model file and a damaged checkpoint fail with one line and exit 1")
    func badModels() throws {
        let missing = CLIHarness.run(["inspect", "/nonexistent/model.gguf"], in: Self.directory)
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("Error: ") && missing.stderr.contains("/nonexistent/model.gguf"))
        let folder = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(folder) }
        let truncated = folder.appendingPathComponent("cut.gguf")
        let bytes = try Data(contentsOf: CLIHarness.fixtures.appendingPathComponent("tiny-gpt2/model.gguf"))
        try bytes.prefix(4000).write(to: truncated)
        let outcome = CLIHarness.run(["inspect", truncated.path], in: Self.directory)
        #expect(outcome.status == 1)
        #expect(outcome.stderr.hasPrefix("Error: ") && outcome.stderr.contains("cut.gguf"))
        #expect(outcome.stderr.split(separator: "\n").count == 1)
    }
}
