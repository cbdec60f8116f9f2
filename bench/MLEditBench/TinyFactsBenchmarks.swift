// Edit quality on the tiny-facts-gpt2 fixture (issue 4's end-to-end target): each method edits all
// 150 facts of facts.json in batches, every batch from the unedited model, and the CounterFact
// scores of each batch are taken right after its edit. C0 comes from the fixture's own fact
// sentences (the text it was trained on). MLEDIT_BENCH_HPARAMS (a JSON object in the names of
// `mledit show --json`) overrides the defaults, which is how the defaults were chosen.
import Foundation
import Models
import Solvers
import Tensors

extension Benchmarks {
    /// The fixture's fact sentences (rewrite, paraphrase and extra prompts with the true object),
    /// three to a JSONL record in a fixed shuffled order, written to a temporary file.
    static func tinyFactsCorpus(factsFile: URL) throws -> URL {
        let data = try Data(contentsOf: factsFile)
        guard let records = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw BenchmarkFailure("\(factsFile.path): not a list of records")
        }
        var sentences: [String] = []
        for record in records {
            guard let rewrite = record["requested_rewrite"] as? [String: Any],
                  let subject = rewrite["subject"] as? String, let prompt = rewrite["prompt"] as? String,
                  let truth = (rewrite["target_true"] as? [String: Any])?["str"] as? String else { continue }
            let others = (record["paraphrase_prompts"] as? [String] ?? []) + (record["extra_prompts"] as? [String] ?? [])
            for text in [prompt.replacingOccurrences(of: "{}", with: subject)] + others {
                sentences.append(text + " " + truth + ".")
            }
        }
        var generator = SeededGenerator(seed: 0)
        sentences.shuffle(using: &generator)
        var lines: [String] = []
        for start in stride(from: 0, to: sentences.count, by: 3) {
            let text = sentences[start ..< min(sentences.count, start + 3)].joined(separator: " ")
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: ["text": text]), as: UTF8.self))
        }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("mledit-bench-tiny-facts-\(ProcessInfo.processInfo.processIdentifier).jsonl")
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// `defaults` with the keys of the JSON object `overrides` replaced.
    static func overriding(_ defaults: EditHyperparameters, with overrides: String?) throws -> EditHyperparameters {
        guard let overrides, !overrides.isEmpty else { return defaults }
        guard var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(defaults)) as? [String: Any],
              let extra = try JSONSerialization.jsonObject(with: Data(overrides.utf8)) as? [String: Any] else {
            throw BenchmarkFailure("MLEDIT_BENCH_HPARAMS: not a JSON object")
        }
        for (key, value) in extra { object[key] = value }
        return try JSONDecoder().decode(EditHyperparameters.self, from: JSONSerialization.data(withJSONObject: object))
    }

    /// `tiny-facts`: argument 1 is the fixture folder (default Tests/Fixtures/tiny-facts-gpt2).
    /// MLEDIT_BENCH_TINY_METHODS (all four), MLEDIT_BENCH_TINY_BATCH (10), MLEDIT_BENCH_TINY_FACTS (all).
    static func tinyFactsQuality(_ arguments: [String]) throws -> [String: Any] {
        let environment = ProcessInfo.processInfo.environment
        let folder = URL(fileURLWithPath: arguments.first ?? "Tests/Fixtures/tiny-facts-gpt2")
        let model = try ModelLoader.load(url: folder)
        let tokenizer = try Tokenizer(tokenizerJSON: folder.appendingPathComponent("tokenizer.json"))
        let factsURL = folder.appendingPathComponent("facts.json")
        var facts = try FactsFile.load(path: factsURL.path)
        facts = Array(facts.prefix(integerEnvironment("MLEDIT_BENCH_TINY_FACTS", facts.count)))
        let batch = integerEnvironment("MLEDIT_BENCH_TINY_BATCH", 10)
        var methods: [EditMethod] = []
        for name in (environment["MLEDIT_BENCH_TINY_METHODS"] ?? "rome,memit,emmet,alphaedit").split(separator: ",") {
            guard let method = EditMethod(rawValue: String(name)) else {
                throw BenchmarkFailure("MLEDIT_BENCH_TINY_METHODS: unknown method '\(name)'")
            }
            methods.append(method)
        }
        let corpus = try CorpusReader(paths: [try tinyFactsCorpus(factsFile: factsURL).path])
        let layerCount = model.configuration.layerCount
        let allLayers = Array(0 ..< layerCount)
        let base = Dictionary(uniqueKeysWithValues: allLayers.map { ($0, model.mlpOutputWeight(layer: $0)) })
        func restore() { for (layer, weight) in base { model.setMLPOutputWeight(layer: layer, weight) } }

        let before = try CounterFactEvaluation.evaluate(model: model, tokenizer: tokenizer, requests: facts)
        var statisticsByCount: [String: [Int: LayerStatistics]] = [:]
        var runs: [String: Any] = [:]
        for method in methods {
            let h = try overriding(EditHyperparameters.defaults(for: model.configuration, method: method),
                                   with: environment["MLEDIT_BENCH_HPARAMS"])
            let statisticsKey = "\(h.statisticsTokenCount)-\(h.statisticsSequenceLength)"
            if statisticsByCount[statisticsKey] == nil {
                statisticsByCount[statisticsKey] = try StatisticsCollector.collect(
                    model: model, tokenizer: tokenizer, corpus: corpus, layers: allLayers,
                    tokenCount: h.statisticsTokenCount, sequenceLength: h.statisticsSequenceLength)
            }
            let statistics = statisticsByCount[statisticsKey] ?? [:]
            var evaluations: [FactEvaluation] = []
            var top1 = 0, optimizedTop1 = 0
            var failures: [String] = []
            let (_, seconds) = try Measure.seconds {
                for requests in EditRequest.batchesWithDistinctSubjects(facts, size: batch) {
                    let result = try EditPlanner.computeEdit(model: model, tokenizer: tokenizer, requests: requests, method: method,
                                                             hyperparameters: h, statistics: statistics, apply: true)
                    let report = try CounterFactEvaluation.evaluate(model: model, tokenizer: tokenizer, requests: requests)
                    evaluations += report.facts
                    top1 += result.facts.filter(\.efficacy).count
                    optimizedTop1 += result.facts.filter(\.optimizationTop1).count
                    for (fact, evaluation) in zip(result.facts, report.facts) where evaluation.efficacy == false {
                        failures.append("\(fact.fact) v_top1=\(fact.optimizationTop1)")
                    }
                    restore()
                }
            }
            let report = EvaluationReport(facts: evaluations)
            var figures = report.jsonObject(includeFacts: false)
            figures["planner_top1"] = Double(top1) / Double(facts.count)
            figures["optimization_top1"] = Double(optimizedTop1) / Double(facts.count)
            figures["seconds"] = seconds
            figures["layers"] = h.sortedLayers
            figures["preservation_weight"] = h.preservationWeight
            figures["clamp_norm_factor"] = h.clampNormFactor
            figures["efficacy_failures"] = failures
            stderr("tiny-facts: \(method.rawValue) \(jsonLine(figures))")
            runs[method.rawValue] = figures
        }
        return [
            "fixture": folder.path, "facts": facts.count, "batch": batch,
            "hyperparameter_overrides": environment["MLEDIT_BENCH_HPARAMS"] ?? "",
            "before": before.jsonObject(includeFacts: false), "runs": runs,
        ]
    }
}
