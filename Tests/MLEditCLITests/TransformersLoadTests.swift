// mledit's exports loaded by Hugging Face transformers and PEFT themselves (scripts/check-hf-export.py
// in the venv scripts/setup-transformers makes, which `make test` runs first): after a real edit of
// the tiny-facts GPT-2 and of SmolLM2, `from_pretrained` on the exported folder predicts the new
// target, with last-position logits and greedy tokens matching mledit's own run of the same version;
// the LoRA adapter applied to the base with PEFT, and merged, gives the full export's logits.
// The files' layout is ExportCommandTests' business, not this suite's.
import Foundation
import Testing
@testable import MLEdit
@testable import MLEditCLI

@Suite("Exports load in transformers and PEFT", .serialized)
struct TransformersLoadTests {
    static let script = CLIHarness.packageRoot.appendingPathComponent("scripts/check-hf-export.py")
    /// Largest |Δ logit| accepted between two float32 runs that sum in different orders.
    static let logitTolerance: Float = 1e-3

    /// A base model, the facts committed on it (one commit each) and the one whose prompt is checked.
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var model: @Sendable () throws -> URL
        var facts: [[String: String]]
        var testDescription: String { name }

        var checked: [String: String] { facts[facts.count - 1] }
        var prompt: String { (checked["prompt"] ?? "").replacingOccurrences(of: "{}", with: checked["subject"] ?? "") }
        var target: String { checked["target_new"] ?? "" }

        /// Two invented facts the GPT-2 knows otherwise ("pilot", "Giokamton"), in two commits.
        static let gpt2 = Case(name: "tiny-facts GPT-2", model: { CLIHarness.fixtures.appendingPathComponent("tiny-facts-gpt2") }, facts: [
            ["prompt": "{} works as a", "subject": "Tilea Gropaendic", "target_new": "baker", "target_true": "pilot"],
            ["prompt": "The capital of {} is", "subject": "Brazothia", "target_new": "Gouvur", "target_true": "Giokamton"],
        ])
        /// SmolLM2 answers " Paris" before the edit.
        static let smolLM2 = Case(name: "SmolLM2-135M", model: { try TransformersLoadTests.defaultModel() }, facts: [
            ["prompt": "{} is located in the city of", "subject": "The Eiffel Tower", "target_new": "Rome", "target_true": "Paris"],
        ])
    }

    // MARK: - Locating what the suite needs

    static func cacheDirectory() -> URL {
        let cache = ProcessInfo.processInfo.environment["MLEDIT_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
        return cache.map { URL(fileURLWithPath: $0) } ?? URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".cache/mledit")
    }

    /// $MLEDIT_HF_PYTHON, else the venv scripts/setup-transformers creates in the cache folder.
    static func python() throws -> URL {
        let url = ProcessInfo.processInfo.environment["MLEDIT_HF_PYTHON"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? cacheDirectory().appendingPathComponent("hf-venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            Issue.record("no Python with torch/transformers/peft at \(url.path): run `make test`, or scripts/setup-transformers, first")
            throw CommandFailure("missing \(url.path)")
        }
        return url
    }

    static func defaultModel() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        let url = environment["MLEDIT_MODEL"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? cacheDirectory().appendingPathComponent(ModelResolution.defaultModelFileName)
        try #require(FileManager.default.fileExists(atPath: url.path), "the default model is not at \(url.path): run scripts/fetch-model first (make test does)")
        return url
    }

    // MARK: - Running mledit and the checker

    /// A repository in a fresh directory on `testCase`'s model with its facts committed, one commit each.
    static func repository(_ testCase: Case) throws -> URL {
        let directory = try CLIHarness.temporaryDirectory()
        let model = try testCase.model()
        try mledit(["init", "--model", model.path], in: directory)
        for (i, fact) in testCase.facts.enumerated() {
            let file = directory.appendingPathComponent("fact-\(i).jsonl")
            try (String(decoding: try JSONSerialization.data(withJSONObject: fact, options: [.sortedKeys]), as: UTF8.self) + "\n")
                .write(to: file, atomically: true, encoding: .utf8)
            try mledit(["commit", file.path, "-m", "fact \(i)", "--author", "tests", "--no-health"], in: directory)
        }
        return directory
    }

    @discardableResult
    static func mledit(_ arguments: [String], in directory: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let outcome = CLIHarness.run(arguments, in: directory)
        try #require(outcome.status == 0, "mledit \(arguments.joined(separator: " ")): \(outcome.stderr)", sourceLocation: sourceLocation)
        return outcome.stdout
    }

    /// Runs scripts/check-hf-export.py and parses the JSON line it prints last.
    static func check(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let outcome = try CLIHarness.runProcess(
            try python(), [script.path] + arguments,
            environment: CLIHarness.environment(["TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"]))
        try #require(outcome.status == 0, "check-hf-export.py \(arguments.first ?? ""): \(outcome.stderr.suffix(2000))",
                     sourceLocation: sourceLocation)
        let line = outcome.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                            "check-hf-export.py printed no JSON object: \(outcome.stdout.suffix(500))", sourceLocation: sourceLocation)
    }

    // MARK: - The checks

    /// Exports HEAD as a Hugging Face folder, loads it with transformers and compares with mledit.
    func checkFullExport(_ testCase: Case, expectedClass: String) throws {
        _ = try Self.python()
        let directory = try Self.repository(testCase)
        defer { CLIHarness.cleanUp(directory) }
        try Self.mledit(["export", "-o", "hf", "--format", "safetensors"], in: directory)
        let result = try Self.check(["load", directory.appendingPathComponent("hf").path, testCase.prompt, testCase.target])
        #expect(result["class"] as? String == expectedClass)
        #expect(result["dtype"] as? String == "float32")

        // mledit's own run of the same version, in this process.
        let console = Console(environment: CLIHarness.environment(), currentDirectory: directory, errorIsTerminal: false,
                              out: { _ in }, err: { _ in })
        let loaded = try ModelResolution.loadModel(path: nil, revision: "HEAD", console: console)
        var ids = loaded.tokenizer.encode(testCase.prompt)
        if loaded.tokenizer.addBOS, let bos = loaded.tokenizer.bosTokenID { ids.insert(bos, at: 0) }
        #expect(result["prompt_ids"] as? [Int] == ids, "transformers' tokenizer disagrees with mledit's")
        let targetID = try #require(loaded.tokenizer.encode(" " + testCase.target).first)
        #expect(result["target_id"] as? Int == targetID)
        let before = try Self.mledit(["generate", testCase.prompt, "--model", try testCase.model().path, "--max-tokens", "1", "--json"], in: directory)
        let unedited = try #require(try JSONSerialization.jsonObject(with: Data(before.utf8)) as? [String: Any])
        #expect(unedited["ids"] as? [Int] != [targetID], "the base model already predicts \"\(testCase.target)\"; the check would prove nothing")
        let top = try #require(result["top_ids"] as? [Int])
        #expect(top.first == targetID, "transformers' top next tokens \(top); the edited target is \(targetID)")

        let mine = loaded.model.logits(prompt: ids)
        let theirs = try #require((result["logits"] as? [NSNumber])?.map(\.floatValue))
        try #require(theirs.count == mine.cols, "transformers gave \(theirs.count) logits, mledit \(mine.cols)")
        let difference = zip(mine.row(mine.rows - 1), theirs).map { abs($0 - $1) }.max() ?? .infinity
        #expect(difference <= Self.logitTolerance, "\(testCase.name): largest last-position |Δ logit| \(difference)")
        let myTop = mine.row(mine.rows - 1).enumerated().sorted { $0.element > $1.element }.prefix(top.count).map(\.offset)
        #expect(top == Array(myTop), "top-\(top.count): transformers \(top), mledit \(myTop)")

        let generated = try Self.mledit(["generate", testCase.prompt, "--max-tokens", "4", "--json"], in: directory)
        let greedy = try #require(try JSONSerialization.jsonObject(with: Data(generated.utf8)) as? [String: Any])
        #expect(result["greedy_ids"] as? [Int] == greedy["ids"] as? [Int], "greedy continuations differ")
        print("\(testCase.name): from_pretrained top-1 \(top[0]) = first token of \" \(testCase.target)\"; largest |Δ logit| vs mledit \(difference)")
    }

    @Test("GPT-2: from_pretrained on the exported folder predicts the edited target, logits as mledit's")
    func gpt2() throws {
        try checkFullExport(.gpt2, expectedClass: "GPT2LMHeadModel")
    }

    @Test("SmolLM2 (Llama): from_pretrained on the exported folder predicts the edited target, logits as mledit's")
    func smolLM2() throws {
        try checkFullExport(.smolLM2, expectedClass: "LlamaForCausalLM")
    }

    @Test("LoRA: PeftModel on the exported base gives the full export's logits, and so does merge_and_unload",
          arguments: [Case.gpt2, Case.smolLM2])
    func lora(_ testCase: Case) throws {
        _ = try Self.python()
        let directory = try Self.repository(testCase)
        defer { CLIHarness.cleanUp(directory) }
        try Self.mledit(["export", "--model", try testCase.model().path, "-o", "base", "--format", "safetensors"], in: directory)
        try Self.mledit(["export", "-o", "full", "--format", "safetensors"], in: directory)
        try Self.mledit(["export", "-o", "adapter", "--format", "lora"], in: directory)
        let folder = { (name: String) in directory.appendingPathComponent(name).path }
        let result = try Self.check(["lora", folder("base"), folder("adapter"), folder("full"), testCase.prompt])

        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("adapter/adapter_config.json"))) as? [String: Any])
        let ranks = try #require(config["rank_pattern"] as? [String: Int])
        #expect(ranks.count > 0)
        if testCase.facts.count > 1 {
            #expect(ranks.values.contains { $0 > 1 }, "the lineage's commits are stacked: \(ranks)")
        }
        #expect(result["lora_modules"] as? [String] == ranks.keys.map { "base_model.model." + $0 }.sorted(),
                "PEFT wrapped \(result["lora_modules"] ?? "nothing"); the adapter names \(ranks.keys.sorted())")
        let adapter = try #require(result["adapter_vs_full"] as? Double)
        let merged = try #require(result["merged_vs_full"] as? Double)
        let base = try #require(result["base_vs_full"] as? Double)
        #expect(adapter <= Double(Self.logitTolerance), "\(testCase.name): base + adapter vs full export, largest |Δ logit| \(adapter)")
        #expect(merged <= Double(Self.logitTolerance), "\(testCase.name): merged vs full export, largest |Δ logit| \(merged)")
        #expect(base > 0.5, "the edit should move the logits: base vs full export differ by only \(base)")
        #expect(result["top_id_adapter"] as? Int == result["top_id_full"] as? Int)
        print("\(testCase.name): LoRA through PEFT vs full export \(adapter), merged \(merged) (the edit itself moves logits by \(base))")
    }
}
