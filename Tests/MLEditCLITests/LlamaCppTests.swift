// mledit's GGUF exports run by llama.cpp itself (scripts/check-llamacpp.py in the venv
// scripts/setup-llamacpp builds, which `make test` runs first): after a real edit of SmolLM2, the
// F16 export and the --requantize q8_0 export answer the edited prompt with the new target under
// llama.cpp's greedy decoding, a neighbour keeps its answer, and llama.cpp's next-token
// log-probabilities agree with `mledit generate --logprobs --json --at HEAD`. The file layout is
// ExportCommandTests' business, not this suite's.
import Foundation
import Testing
@testable import MLEditCLI

@Suite("GGUF exports run in llama.cpp", .serialized)
struct LlamaCppTests {
    static let script = CLIHarness.packageRoot.appendingPathComponent("scripts/check-llamacpp.py")
    /// Largest |Δ log-probability| accepted over mledit's top-10 next tokens. llama.cpp rounds the
    /// activations to Q8 (against Q4_1 and Q8_0 weights) or F16 (against F16 weights) before its
    /// dot products, mledit computes in Float32 on dequantized weights: on the unedited base model
    /// the two engines already differ by up to 0.22 over the top 10, the F16 export by 0.20 and the
    /// q8_0 export by 0.25 (measured). A lost or mis-placed edit moves the target by several nats.
    static let logProbabilityTolerance = 0.5
    static let topCount = 10

    static let fact = ["prompt": "{} is located in the city of", "subject": "The Eiffel Tower", "target_new": "Rome", "target_true": "Paris"]
    static let edited = "The Eiffel Tower is located in the city of"
    /// Another landmark whose answer is the edited fact's old one: the hardest neighbour to keep.
    static let neighbour = "The Louvre is located in the city of"

    /// $MLEDIT_LLAMACPP_PYTHON, else the venv scripts/setup-llamacpp creates in the cache folder.
    static func python() throws -> URL {
        let url = ProcessInfo.processInfo.environment["MLEDIT_LLAMACPP_PYTHON"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? TransformersLoadTests.cacheDirectory().appendingPathComponent("llamacpp-venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            Issue.record("no Python with llama_cpp at \(url.path): run `make test`, or scripts/setup-llamacpp, first")
            throw CommandFailure("missing \(url.path)")
        }
        return url
    }

    /// One prompt as a run reports it: prompt ids, top next ids with log-probabilities, greedy ids.
    struct Run {
        var promptIDs: [Int]
        var top: [(id: Int, logProbability: Double)]
        var greedy: [Int]
        var text: String

        init(_ object: [String: Any], greedyKey: String, textKey: String) throws {
            promptIDs = try #require(object["prompt_ids"] as? [Int])
            let steps = try #require(object["top_logprobs"] as? [Any])
            // mledit gives one list per generated step, the script one list for the next token.
            let first = try #require((steps.first as? [[String: Any]]) ?? (steps as? [[String: Any]]))
            top = try first.map { (try #require($0["id"] as? Int), try #require(($0["logprob"] as? NSNumber)?.doubleValue)) }
            greedy = try #require(object[greedyKey] as? [Int])
            text = try #require(object[textKey] as? String)
        }
    }

    /// mledit's own run of `prompt` at HEAD (or on `model`), `count` greedy tokens.
    static func mine(_ prompt: String, in directory: URL, model: URL? = nil, count: Int) throws -> Run {
        var arguments = ["generate", prompt, "--logprobs", "\(topCount)", "--json", "-n", "\(count)"]
        arguments += model.map { ["--model", $0.path] } ?? ["--at", "HEAD"]
        let output = try TransformersLoadTests.mledit(arguments, in: directory)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        return try Run(object, greedyKey: "ids", textKey: "text")
    }

    /// llama.cpp's runs of `prompts` on `gguf`, in prompt order.
    static func theirs(_ gguf: URL, _ prompts: [String], count: Int) throws -> [Run] {
        let outcome = try CLIHarness.runProcess(
            try python(), [script.path, gguf.path] + prompts + ["--top", "\(topCount)", "--greedy", "\(count)"],
            environment: CLIHarness.environment(["OMP_NUM_THREADS": "1"]))
        try #require(outcome.status == 0, "check-llamacpp.py \(gguf.lastPathComponent): \(outcome.stderr.suffix(2000))")
        let line = outcome.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                                  "check-llamacpp.py printed no JSON object: \(outcome.stdout.suffix(500))")
        let results = try #require(object["results"] as? [[String: Any]])
        return try results.map { try Run($0, greedyKey: "greedy_ids", textKey: "completion") }
    }

    /// Largest |Δ log-probability| over mledit's top tokens that llama.cpp's top list also holds,
    /// and how many of them it holds.
    static func largestDifference(_ mine: Run, _ theirs: Run) -> (difference: Double, shared: Int) {
        let found = Dictionary(theirs.top.map { ($0.id, $0.logProbability) }, uniquingKeysWith: { a, _ in a })
        let pairs = mine.top.compactMap { entry in found[entry.id].map { abs($0 - entry.logProbability) } }
        return (pairs.max() ?? .infinity, pairs.count)
    }

    @Test("SmolLM2: llama.cpp runs the F16 and q8_0 exports with the edit in force, log-probabilities as mledit's",
          arguments: [[], ["--requantize", "q8_0"]])
    func export(_ options: [String]) throws {
        _ = try Self.python()
        let model = try TransformersLoadTests.defaultModel()
        let directory = try TransformersLoadTests.repository(.init(name: "SmolLM2-135M", model: { model }, facts: [Self.fact]))
        defer { CLIHarness.cleanUp(directory) }
        let name = options.isEmpty ? "F16" : options[1]
        let gguf = directory.appendingPathComponent("edited.gguf")
        try TransformersLoadTests.mledit(["export", "-o", gguf.path] + options, in: directory)

        let count = 3
        let before = try Self.mine(Self.neighbour, in: directory, model: model, count: count)
        let unedited = try Self.mine(Self.edited, in: directory, model: model, count: count)
        let runs = try Self.theirs(gguf, [Self.edited, Self.neighbour], count: count)
        try #require(runs.count == 2)
        let rome = try #require(runs[0].greedy.first)
        #expect(rome != unedited.greedy.first, "the base model already answers \(rome); the check would prove nothing")
        #expect(runs[0].text.hasPrefix(" Rome"), "\(name): llama.cpp completes the edited prompt with \(runs[0].text.debugDescription)")
        #expect(runs[1].greedy.first == before.greedy.first,
                "\(name): the neighbour's first token under llama.cpp is \(runs[1].greedy), before the edit \(before.greedy)")
        #expect(runs[1].text.hasPrefix(" Paris"), "\(name): llama.cpp completes the neighbour with \(runs[1].text.debugDescription)")

        for (prompt, theirs) in zip([Self.edited, Self.neighbour], runs) {
            let mine = try Self.mine(prompt, in: directory, count: count)
            #expect(theirs.promptIDs == mine.promptIDs, "llama.cpp tokenizes \(prompt.debugDescription) as \(theirs.promptIDs), mledit as \(mine.promptIDs)")
            #expect(theirs.top.first?.id == mine.top.first?.id, "\(name) \(prompt.debugDescription): top-1 llama.cpp \(theirs.top.first?.id ?? -1), mledit \(mine.top.first?.id ?? -1)")
            #expect(theirs.greedy.first == mine.greedy.first)
            let (difference, shared) = Self.largestDifference(mine, theirs)
            #expect(shared >= Self.topCount - 3, "\(name) \(prompt.debugDescription): only \(shared) of mledit's top \(Self.topCount) are in llama.cpp's")
            #expect(difference <= Self.logProbabilityTolerance,
                    "\(name) \(prompt.debugDescription): largest |Δ logprob| over the top \(Self.topCount) \(difference)")
            print("\(name) \(prompt.debugDescription): llama.cpp greedy \(theirs.text.debugDescription); largest |Δ logprob| vs mledit over \(shared) shared top-\(Self.topCount) tokens \(difference)")
        }
    }
}
