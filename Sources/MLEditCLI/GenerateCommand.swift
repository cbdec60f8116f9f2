// `mledit generate`: continue a prompt with a version of the model (greedy by default).
import Foundation
import MLEdit
import Models

enum GenerateCommand {
    static let spec = CommandSpec(
        name: "generate",
        abstract: "Continue a prompt with the model (greedy unless --temperature is given).",
        arguments: [ArgumentSpec("PROMPT", help: "The text to continue (no BOS is prepended unless the model asks for it).")],
        options: [
            OptionSpec(["--model"], value: "PATH", help: "A GGUF file or a Hugging Face model folder (default: the repository's model, else the default model)."),
            OptionSpec(["--at"], value: "REV", help: "Inside a repository: the version to run (default HEAD)."),
            OptionSpec(["--max-tokens", "-n"], value: "N", help: "Largest number of new tokens (default 32)."),
            OptionSpec(["--temperature"], value: "T", help: "Sample with this temperature (default 0: greedy)."),
            OptionSpec(["--top-k"], value: "K", help: "Sample among the K most likely tokens only (default: all)."),
            OptionSpec(["--seed"], value: "S", help: "Seed for sampling (default 0); the same seed gives the same text."),
            OptionSpec(["--logprobs"], value: "K", help: "Also show the K most likely next tokens at every step."),
            OptionSpec(["--json"], help: "Print JSON: prompt ids, new ids, text, stop reason, log-probabilities."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let prompt = arguments.positionals[0]
        let maxTokens = try arguments.integer("--max-tokens") ?? 32
        let temperature = try arguments.double("--temperature") ?? 0
        let topK = try arguments.integer("--top-k") ?? 0
        let seed = try arguments.integer("--seed") ?? 0
        let logprobs = try arguments.integer("--logprobs") ?? 0
        guard maxTokens >= 0 else { throw UsageError("--max-tokens must be at least 0", command: "generate") }
        guard temperature >= 0 else { throw UsageError("--temperature must be at least 0", command: "generate") }
        guard topK >= 0, seed >= 0, logprobs >= 0 else {
            throw UsageError("--top-k, --seed and --logprobs must be at least 0", command: "generate")
        }
        let loaded = try ModelResolution.loadModel(path: arguments.value("--model"), revision: arguments.value("--at"), console: console)
        var ids = loaded.tokenizer.encode(prompt)
        if loaded.tokenizer.addBOS, let bos = loaded.tokenizer.bosTokenID { ids.insert(bos, at: 0) }
        guard !ids.isEmpty else { throw CommandFailure("the prompt is empty") }
        let room = loaded.model.configuration.contextLength - ids.count
        guard room > 0 else {
            throw CommandFailure("the prompt has \(ids.count) tokens; the model's context holds \(loaded.model.configuration.contextLength)")
        }
        let sampling = SamplingOptions(temperature: Float(temperature), topK: topK, seed: UInt64(seed),
                                       topLogProbabilityCount: logprobs)
        let generation = loaded.model.generate(prompt: ids, maxNewTokens: min(maxTokens, room), sampling: sampling)
        let text = loaded.tokenizer.decode(generation.tokens, skipSpecialTokens: true)
        if arguments.flag("--json") {
            var result: [String: Any] = [
                "prompt": prompt, "prompt_ids": ids, "ids": generation.tokens,
                "text": loaded.tokenizer.decode(generation.tokens), "stopped_at_eos": generation.stoppedAtStopToken,
                "logprobs": generation.logProbabilities.map(Double.init),
            ]
            if let version = loaded.version { result["version"] = version }
            if logprobs > 0 {
                result["top_logprobs"] = generation.topLogProbabilities.map { step in
                    step.map { ["id": $0.tokenID, "piece": loaded.tokenizer.piece($0.tokenID), "logprob": Double($0.logProbability)] as [String: Any] }
                }
            }
            try console.printJSON(result)
            return
        }
        console.print(prompt + text)
        if logprobs > 0 {
            for (step, top) in generation.topLogProbabilities.enumerated() {
                let chosen = generation.tokens[step]
                let alternatives = top.map { String(format: "%@ %.3f", loaded.tokenizer.piece($0.tokenID).debugDescription, $0.logProbability) }
                console.print("  \(step): \(loaded.tokenizer.piece(chosen).debugDescription)  [\(alternatives.joined(separator: ", "))]")
            }
        }
    }
}
