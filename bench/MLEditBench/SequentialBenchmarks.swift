// Sequential editing on the default model (issue 7): CounterFact records committed in batches of
// 10 (each batch keeping the keys of all earlier facts, as `mledit commit` does) until N facts, by
// MEMIT, EMMET and AlphaEdit, each from the unedited model. Every 50 facts: CounterFact scores on
// all facts so far, the perplexity of a fixed probe text (the first tokens of the corpus) under
// the current weights, and the share of the general-knowledge probe's base-known facts (those no
// edit so far is about) still answered top-1. These are measurements, not tests: nothing here
// asserts an outcome.
import Foundation
import MLEdit
import Models
import Solvers
import Tensors

extension Benchmarks {
    /// Token IDs of the probe: the first `count` tokens of the first corpus file.
    static func probeTokens(_ tokenizer: Tokenizer, count: Int) throws -> [Int] {
        guard let path = QualityBench.corpusPaths.first, let handle = FileHandle(forReadingAtPath: path) else {
            throw BenchmarkFailure("no readable corpus for the probe text (set MLEDIT_CORPUS)")
        }
        defer { try? handle.close() }
        let data = try handle.read(upToCount: 64 * 1024) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        let ids = tokenizer.encode(text, parseSpecialTokens: false)
        guard ids.count >= count else {
            throw BenchmarkFailure("\(path): only \(ids.count) tokens in its first 64 KiB, \(count) wanted for the probe")
        }
        return Array(ids.prefix(count))
    }

    /// Perplexity of `tokens[1...]` after `tokens[0]`, teacher-forced, on the current weights
    /// (one forward pass; log-softmax of every position's logits in Float64).
    static func perplexity(_ model: any TransformerModel, tokens: [Int]) -> Double {
        let logits = model.logits(prompt: tokens)
        var nll = 0.0
        for position in 0 ..< tokens.count - 1 {
            let row = logits.row(position)
            let top = Double(row.max() ?? 0)
            let total = row.reduce(0.0) { $0 + exp(Double($1) - top) }
            nll -= Double(row[tokens[position + 1]]) - top - log(total)
        }
        return exp(nll / Double(tokens.count - 1))
    }

    /// `sequential`: N facts (argument 3, else MLEDIT_BENCH_SEQUENTIAL_FACTS, else 500) in batches
    /// of MLEDIT_BENCH_SEQUENTIAL_BATCH (10), checkpoints every MLEDIT_BENCH_SEQUENTIAL_EVERY (50)
    /// facts, for each method of MLEDIT_BENCH_SEQUENTIAL_METHODS (memit,emmet,alphaedit). Statistics
    /// from the shared cache when present (else computed once). Arguments: model, facts file, N.
    /// MLEDIT_BENCH_SEQUENTIAL_SAMPLE S scores a checkpoint on the facts so far that belong to a
    /// fixed random sample of S of the N (seeded; all facts when unset), and
    /// MLEDIT_BENCH_SEQUENTIAL_OUT names a file each checkpoint's row is appended to as one JSON
    /// line when it is measured, so a run stopped part way keeps its figures. MLEDIT_BENCH_HPARAMS
    /// is laid over the defaults; MLEDIT_BENCH_NAS=1 aligns targets (NAS) to a reference norm
    /// measured on the first batch at the base, unless the hyperparameters give one. MEMIT and AlphaEdit keep the earlier facts as Σ kkᵀ per layer
    /// (as the ledger's memory does), EMMET by their keys.
    static func sequential(_ arguments: [String]) throws -> [String: Any] {
        let environment = ProcessInfo.processInfo.environment
        let total = arguments.count > 2 ? Int(arguments[2]) ?? 0 : integerEnvironment("MLEDIT_BENCH_SEQUENTIAL_FACTS", 500)
        let batch = integerEnvironment("MLEDIT_BENCH_SEQUENTIAL_BATCH", 10)
        let every = integerEnvironment("MLEDIT_BENCH_SEQUENTIAL_EVERY", 50)
        guard total > 0, batch > 0, every > 0 else {
            throw BenchmarkFailure("sequential: N, batch and checkpoint interval must be positive")
        }
        var methods: [EditMethod] = []
        for name in (environment["MLEDIT_BENCH_SEQUENTIAL_METHODS"] ?? "memit,emmet,alphaedit").split(separator: ",") {
            guard let method = EditMethod(rawValue: String(name)) else {
                throw BenchmarkFailure("MLEDIT_BENCH_SEQUENTIAL_METHODS: unknown method '\(name)'")
            }
            methods.append(method)
        }
        let (bench, loadSeconds) = try Measure.seconds { try QualityBench(arguments: arguments, factCount: total, methods: methods) }
        let config = bench.model.configuration
        // C0 only for the layers of methods that use it (UltraEdit keeps its own running statistics,
        // and needs C0 only when confined to its null space).
        var layerSet = Set<Int>()
        for method in methods {
            let h = try QualityBench.hyperparameters(for: config, method: method)
            if h.usesPreservationStatistics(method) { layerSet.formUnion(h.layers) }
        }
        let layers = layerSet.sorted()
        let statisticsHyperparameters = EditHyperparameters.defaults(for: config, method: methods.first ?? .memit)
        let (statistics, statisticsFigures) = layers.isEmpty
            ? ([:], ["source": "none: no method here uses C0"])
            : try bench.statistics(layers: layers, hyperparameters: statisticsHyperparameters, recompute: false)
        stderr("sequential: statistics \(jsonLine(statisticsFigures))")
        let probe = try probeTokens(bench.tokenizer, count: integerEnvironment("MLEDIT_BENCH_PROBE_TOKENS", 300))
        bench.restoreBase()
        let baseProbe = perplexity(bench.model, tokens: probe)
        // The general-knowledge probe: the candidates the unedited model answers top-1, checked at
        // every checkpoint without those an edited fact so far is about.
        let knowledge = KnowledgeProbe.general
        let baseKnown = try knowledge.known(model: bench.model, tokenizer: bench.tokenizer)
        let baseline = KnowledgeBaseline(probe: knowledge, known: baseKnown)

        let sampleSize = integerEnvironment("MLEDIT_BENCH_SEQUENTIAL_SAMPLE", total)
        let sample = sequentialSample(total: total, size: sampleSize)
        let checkpointFile = environment["MLEDIT_BENCH_SEQUENTIAL_OUT"]
        var tables: [String: Any] = [:]
        for method in methods {
            bench.restoreBase()
            var h = try QualityBench.hyperparameters(for: config, method: method)
            var label = method.rawValue
            if environment["MLEDIT_BENCH_NAS"] == "1" {
                // As `commit --nas` at a lineage's first commit: the reference from the first batch on the base.
                if h.nasTargetNorm == nil {
                    let prefixes = ContextPrefixSampler.sample(model: bench.model, tokenizer: bench.tokenizer, count: h.prefixCount,
                                                               length: h.prefixLength, topK: h.prefixTopK, seed: h.seed)
                    h.nasTargetNorm = try NormAlignedTargets.referenceNorm(
                        model: bench.model, tokenizer: bench.tokenizer, requests: Array(bench.facts[0 ..< min(batch, total)]),
                        hyperparameters: h, prefixes: prefixes)
                    bench.restoreBase()
                }
                label += "+nas"
                stderr("sequential: \(label) reference norm \(h.nasTargetNorm!)")
            }
            var memory: [Int: Matrix<Float>] = [:]
            var grams: [Int: Matrix<Double>] = [:]
            var lifelong: [Int: LifelongNormalizer] = [:]
            var rows: [[String: Any]] = [["facts": 0, "probe_perplexity": baseProbe, "edit_seconds_so_far": 0.0]]
            var editSeconds = 0.0, done = 0
            let clock = StageClock()
            var keysSeconds = 0.0, plannerTop1 = 0
            var failure: String?
            while done < total {
                let next = min(done + batch, total)
                do {
                    let (_, seconds) = try Measure.seconds {
                        try applyInBatches(bench, facts: Array(bench.facts[done ..< next]), method: method, batch: batch,
                                           hyperparameters: h, statistics: statistics, memory: &memory,
                                           grams: &grams, keepGrams: method.holdsEarlierFactsByGram, lifelong: &lifelong,
                                           clock: clock,
                                           keysSeconds: &keysSeconds, plannerTop1: &plannerTop1)
                    }
                    editSeconds += seconds
                } catch {
                    failure = "facts \(done + 1)–\(next): \(error)"
                    stderr("sequential: \(method.rawValue) stopped at \(done) facts: \(error)")
                    break
                }
                done = next
                stderr("sequential: \(method.rawValue) \(done)/\(total) facts, \(String(format: "%.0f", editSeconds)) s editing")
                if done % every == 0 || done == total {
                    let scored = sample.filter { $0 < done }.map { bench.facts[$0] }
                    var row = try bench.evaluate(scored)
                    row["facts"] = done
                    row["method"] = label
                    row["nas_target_norm"] = h.nasTargetNorm.map { $0 as Any } ?? NSNull()
                    row["probe_perplexity"] = perplexity(bench.model, tokens: probe)
                    // As the health check of a version chooses them.
                    let checked = baseline.checked(editsInForce: Array(bench.facts[0 ..< done])).indices
                    let answered = try knowledge.answered(checked, model: bench.model, tokenizer: bench.tokenizer)
                    row["knowledge_accuracy"] = checked.isEmpty ? NSNull() : Double(answered.filter { $0 }.count) / Double(checked.count)
                    row["knowledge_checked"] = checked.count
                    // Lost and checked per relation: which kinds of knowledge the edits reach.
                    var byRelation: [String: [Int]] = [:]          // relation → [lost, checked]
                    for (index, kept) in zip(checked, answered) {
                        var counts = byRelation[knowledge.candidates[index].prompt] ?? [0, 0]
                        counts[0] += kept ? 0 : 1
                        counts[1] += 1
                        byRelation[knowledge.candidates[index].prompt] = counts
                    }
                    row["knowledge_lost_of_checked_by_relation"] = byRelation
                    row["edit_seconds_so_far"] = editSeconds
                    row["top1_right_after_own_batch_so_far"] = Double(plannerTop1) / Double(done)
                    rows.append(row)
                    stderr("sequential: \(method.rawValue) \(jsonLine(row))")
                    if let checkpointFile { try appendLine(jsonLine(row), to: checkpointFile) }
                }
            }
            tables[label] = [
                "rows": rows, "facts_done": done, "batch": batch, "layers": h.sortedLayers,
                "preservation_weight": h.preservationWeight, "failure": failure.map { $0 as Any } ?? NSNull(),
                "targets_seconds": clock.seconds[.targets] ?? 0, "layers_stage_seconds": clock.seconds[.layers] ?? 0,
                "keys_seconds_measured_apart": keysSeconds,
            ]
        }
        bench.restoreBase()
        return [
            "model": bench.modelURL.path, "facts_file": bench.factsPath, "facts_wanted": total, "batch": batch,
            "checkpoint_every": every, "probe_tokens": probe.count, "probe_perplexity_base": baseProbe,
            "knowledge_candidates": knowledge.candidates.count, "knowledge_known_at_base": baseKnown.count,
            "load_seconds": loadSeconds, "statistics": statisticsFigures, "methods": tables,
        ]
    }
}

extension Benchmarks {
    /// `size` distinct indices of 0..<total, ascending, drawn with a fixed seed (all of them when
    /// `size` ≥ `total`).
    static func sequentialSample(total: Int, size: Int) -> [Int] {
        if size >= total { return Array(0..<total) }
        var generator = SeededGenerator(seed: 20_261_203)
        var indices = Array(0..<total)
        for i in 0..<size {
            let j = i + Int(generator.next() % UInt64(total - i))
            indices.swapAt(i, j)
        }
        return indices.prefix(size).sorted()
    }

    /// Appends `line` and a newline to the file at `path` (created when absent).
    static func appendLine(_ line: String, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw BenchmarkFailure("\(path): cannot be written") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((line + "\n").utf8))
    }
}
