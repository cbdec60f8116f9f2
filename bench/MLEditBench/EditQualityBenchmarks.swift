// Edit quality on the default model (issue 4): CounterFact efficacy, paraphrase and neighbourhood
// scores before and after ROME (one fact at a time, in sequence), MEMIT and EMMET (batches of 64,
// 8 and 1, later batches keeping the keys of earlier ones), with the time spent in each stage of an
// edit and the throughput of the preservation-statistics pass. The library is driven directly
// (EditPlanner, StatisticsCollector, CounterFactEvaluation); no ledger is involved. These are
// measurements, not tests: nothing here asserts an outcome.
import Checkpoints
import Foundation
import Ledger
import MLEdit
import Models
import Solvers
import Tensors

/// The default model loaded once, its base MLP output weights, and the facts to edit.
struct QualityBench {
    let modelURL: URL
    let model: any TransformerModel
    let tokenizer: Tokenizer
    let facts: [EditRequest]
    let factsPath: String
    /// Unedited MLP output weights of every layer any method may change.
    let baseWeights: [Int: Matrix<Float>]

    /// `skip`: facts with distinct subjects passed over before the `factCount` taken, so that a
    /// slice used to choose defaults and a held-out slice never share a record or a subject.
    init(arguments: [String], factCount: Int, skip: Int = 0, methods: [EditMethod]) throws {
        modelURL = Benchmarks.modelURL(arguments)
        model = try ModelLoader.load(url: modelURL)
        tokenizer = try Tokenizer(gguf: GGUFFile(contentsOf: modelURL))
        factsPath = CounterFactRecords.url(arguments).path
        facts = Array(try QualityBench.distinctSubjects(FactsFile.load(path: factsPath, allowDuplicates: true),
                                                        count: skip + factCount, file: factsPath).dropFirst(skip))
        var layers = Set<Int>()
        for method in methods { layers.formUnion(try QualityBench.hyperparameters(for: model.configuration, method: method).layers) }
        var weights: [Int: Matrix<Float>] = [:]
        for layer in layers { weights[layer] = model.mlpOutputWeight(layer: layer) }
        baseWeights = weights
    }

    /// The defaults for `method`, with MLEDIT_BENCH_HPARAMS (a JSON object in the names of
    /// `mledit show --json`) laid over them: how the defaults of a model are chosen.
    static func hyperparameters(for configuration: ModelConfiguration, method: EditMethod) throws -> EditHyperparameters {
        try Benchmarks.overriding(EditHyperparameters.defaults(for: configuration, method: method),
                                  with: ProcessInfo.processInfo.environment["MLEDIT_BENCH_HPARAMS"])
    }

    /// The first `count` facts whose subjects all differ (case-insensitively).
    static func distinctSubjects(_ all: [EditRequest], count: Int, file: String) throws -> [EditRequest] {
        var seen = Set<String>(), chosen: [EditRequest] = []
        for request in all where chosen.count < count && seen.insert(request.subject.lowercased()).inserted {
            chosen.append(request)
        }
        guard chosen.count == count else {
            throw BenchmarkFailure("\(file): only \(chosen.count) facts with distinct subjects, \(count) needed")
        }
        return chosen
    }

    /// Puts the unedited weights back.
    func restoreBase() {
        for (layer, weight) in baseWeights { model.setMLPOutputWeight(layer: layer, weight) }
    }

    /// The corpus files: MLEDIT_CORPUS (colon-separated) or ~/.cache/mledit/enwiki-sample.txt.
    static var corpusPaths: [String] {
        if let corpus = ProcessInfo.processInfo.environment["MLEDIT_CORPUS"], !corpus.isEmpty {
            return corpus.split(separator: ":").map(String.init)
        }
        let cache = ProcessInfo.processInfo.environment["MLEDIT_CACHE"] ?? NSHomeDirectory() + "/.cache/mledit"
        return [cache + "/enwiki-sample.txt"]
    }

    /// C0 for `layers`: read from the shared statistics cache (the file names `mledit` uses) unless
    /// `recompute`, else computed on the unedited model over the corpus and written to that cache.
    /// Returns the statistics and what it cost (seconds and tokens/s when computed).
    func statistics(layers: [Int], hyperparameters h: EditHyperparameters, recompute: Bool) throws
        -> (statistics: [Int: LayerStatistics], figures: [String: Any]) {
        let corpus = QualityBench.corpusPaths
        var hasher = SHA256()
        for path in corpus {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw BenchmarkFailure("\(path): cannot read the corpus (run scripts/fetch-corpus or set MLEDIT_CORPUS)")
            }
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
        }
        let corpusDigest = hasher.finalize().hex
        let modelDigest = try SHA256.hash(fileAt: modelURL).hex
        let cache = URL(fileURLWithPath: ProcessInfo.processInfo.environment["MLEDIT_CACHE"] ?? NSHomeDirectory() + "/.cache/mledit")
            .appendingPathComponent("statistics")
        func file(_ layer: Int) -> URL {
            cache.appendingPathComponent("\(modelDigest.prefix(16))-blk.\(layer).ffn_down.weight-\(corpusDigest.prefix(16))-\(h.statisticsTokenCount).f64")
        }
        restoreBase()
        if !recompute {
            var found: [Int: LayerStatistics] = [:]
            for layer in layers {
                guard let blob = FileManager.default.contents(atPath: file(layer).path),
                      let statistics = try? LayerStatistics(layer: layer, tokenCount: h.statisticsTokenCount,
                                                            dimension: model.configuration.intermediateSize, blob: blob) else { break }
                found[layer] = statistics
            }
            if found.count == layers.count {
                return (found, ["source": "cache", "directory": cache.path, "token_count": h.statisticsTokenCount])
            }
        }
        let (computed, seconds) = try Measure.seconds {
            try StatisticsCollector.collect(model: model, tokenizer: tokenizer, corpus: CorpusReader(paths: corpus), layers: layers,
                                            tokenCount: h.statisticsTokenCount, sequenceLength: h.statisticsSequenceLength)
        }
        try? FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        for (layer, statistics) in computed { try? statistics.blob.write(to: file(layer), options: .atomic) }
        return (computed, ["source": "computed", "seconds": seconds, "token_count": h.statisticsTokenCount,
                           "layers": layers.count, "sequence_length": h.statisticsSequenceLength,
                           "tokens_per_second": Double(h.statisticsTokenCount) / seconds, "corpus": corpus])
    }

    /// CounterFact scores of `requests` on the current weights.
    /// With `outcomes` (fact label → what its own commit did), the facts whose greedy answer is
    /// not the new target are listed as `misses`.
    func evaluate(_ requests: [EditRequest], outcomes: [String: String]? = nil) throws -> [String: Any] {
        let (report, seconds) = try Measure.seconds { try CounterFactEvaluation.evaluate(model: model, tokenizer: tokenizer, requests: requests) }
        func value(_ x: Double?) -> Any { x ?? NSNull() }
        var misses: [[String: Any]] = []
        if let outcomes {
            for (request, fact) in zip(requests, report.facts) where !fact.top1 {
                misses.append(["fact": request.label, "target_new": request.targetNew, "p_new": fact.rewrite.probabilityNew,
                               "p_true": value(fact.rewrite.probabilityTrue), "own_commit": outcomes[request.label] ?? "unverified"])
            }
        }
        return (outcomes == nil ? [:] : ["misses": misses]).merging(["n": report.count, "efficacy": value(report.efficacy), "efficacy_magnitude": value(report.efficacyMagnitude),
                "paraphrase": value(report.paraphrase), "paraphrase_magnitude": value(report.paraphraseMagnitude),
                "neighborhood": value(report.neighborhood), "neighborhood_magnitude": value(report.neighborhoodMagnitude),
                "top1": value(report.top1), "paraphrase_top1": value(Self.paraphraseTop1(report)), "seconds": seconds]) { $1 }
    }

    /// The share of paraphrase prompts whose greedy answer is the whole new target.
    static func paraphraseTop1(_ report: EvaluationReport) -> Double? {
        let verdicts = report.facts.flatMap { $0.paraphrases.map(\.newIsTop1) }
        return verdicts.isEmpty ? nil : Double(verdicts.filter { $0 }.count) / Double(verdicts.count)
    }
}

/// What the verification of `mledit commit` found over the batches of one run.
final class VerificationTally {
    private(set) var landedFirstRound = 0, landedAfterRetry = 0, leftOut = 0, rounds = 0, batches = 0
    /// Per fact label, what its own commit did with it.
    private(set) var outcomes: [String: String] = [:]

    func record(_ edit: VerifiedEdit, batch: Int) {
        landedAfterRetry += edit.checks.filter(\.retried).count
        landedFirstRound += edit.checks.filter { $0.landed && !$0.retried }.count
        leftOut += edit.leftOut.count
        rounds += edit.rounds
        batches += 1
        for check in edit.checks { outcomes[check.fact] = !check.landed ? "not landed" : check.retried ? "landed after retry" : "landed" }
        for check in edit.leftOut { outcomes[check.fact] = "left out" }
    }

    /// A batch none of whose facts landed: `mledit commit --allow-partial` refuses it, so it stays unedited.
    func recordRefused(_ chunk: [EditRequest]) {
        leftOut += chunk.count
        rounds += 2
        batches += 1
        for request in chunk { outcomes[request.label] = "refused" }
    }

    var figures: [String: Any] {
        ["landed_first_round": landedFirstRound, "landed_after_retry": landedAfterRetry, "left_out": leftOut,
         "rounds": rounds, "batches": batches]
    }
}

/// Seconds per `EditProgress` stage, accumulated over several edits.
final class StageClock {
    private(set) var seconds: [EditProgress.Stage: Double] = [:]
    private var current: EditProgress.Stage?
    private var since = DispatchTime.now().uptimeNanoseconds

    func observe(_ progress: EditProgress) {
        let now = DispatchTime.now().uptimeNanoseconds
        if let current { seconds[current, default: 0] += Double(now - since) / 1e9 }
        let finished = progress.completed >= progress.total
        current = finished ? nil : progress.stage
        since = now
    }
}

extension Benchmarks {
    /// One edit configuration of `edit-quality`: a method and a batch size.
    struct QualityRun {
        var method: EditMethod
        var batch: Int
        var name: String { "\(method.rawValue)-\(batch)" }
    }

    static func stderr(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    static func jsonLine(_ object: [String: Any]) -> String {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Applies `facts` by `method` in batches of `batch` (each batch keeping the keys of the earlier
    /// ones), timing each stage; the weights stay edited. The keys of every batch are also computed
    /// once more on their own (same prompts and layers) to time them apart from the solve.
    static func applyInBatches(_ bench: QualityBench, facts: [EditRequest], method: EditMethod, batch: Int,
                               hyperparameters h: EditHyperparameters, statistics: [Int: LayerStatistics],
                               memory: inout [Int: Matrix<Float>], clock: StageClock,
                               keysSeconds: inout Double, plannerTop1: inout Int) throws {
        var unused: [Int: Matrix<Double>] = [:]
        var lifelong: [Int: LifelongNormalizer] = [:]
        try applyInBatches(bench, facts: facts, method: method, batch: batch, hyperparameters: h, statistics: statistics,
                           memory: &memory, grams: &unused, keepGrams: false, lifelong: &lifelong, clock: clock,
                           keysSeconds: &keysSeconds, plannerTop1: &plannerTop1)
    }

    /// As above; with `keepGrams` the earlier facts are carried as Σ kkᵀ per layer in `grams`
    /// instead of their keys in `memory`. UltraEdit carries its running statistics in `lifelong`.
    static func applyInBatches(_ bench: QualityBench, facts: [EditRequest], method: EditMethod, batch: Int,
                               hyperparameters h: EditHyperparameters, statistics: [Int: LayerStatistics],
                               memory: inout [Int: Matrix<Float>], grams: inout [Int: Matrix<Double>], keepGrams: Bool,
                               lifelong: inout [Int: LifelongNormalizer],
                               clock: StageClock, keysSeconds: inout Double, plannerTop1: inout Int,
                               verification: VerificationTally? = nil) throws {
        var inForce: [EditRequest] = []
        for start in stride(from: 0, to: facts.count, by: batch) {
            let chunk = Array(facts[start ..< min(start + batch, facts.count)])
            let result: EditResult
            // As a commit holds the facts in force: their prompts' keys on the weights it starts from.
            let contextMemory = try EditPlanner.contextKeys(
                model: bench.model, tokenizer: bench.tokenizer, factsInForce: inForce, layers: h.sortedLayers, hyperparameters: h)
            if let verification {
                // As `mledit commit --allow-partial` solves a batch: verified, a second round for the
                // facts that did not land, those still not landed left out (they stay unedited and
                // count as misses in the scores of all facts).
                let (currentKeys, currentGrams, currentLifelong, currentContext) = (memory, grams, lifelong, contextMemory)
                let edit: VerifiedEdit
                do {
                    edit = try VerifiedEdit.solve(
                        requests: chunk, method: method, hyperparameters: h, statistics: statistics,
                        memory: { _ in EditMemory(keys: currentKeys, grams: currentGrams, lifelongStatistics: currentLifelong,
                                                  contextKeys: currentContext) },
                        model: bench.model, tokenizer: bench.tokenizer, allowPartial: true, retry: true,
                        progress: { clock.observe($0) })
                } catch let error as MLEditError where error.kind == .editFailed {
                    verification.recordRefused(chunk)
                    continue
                }
                result = edit.result
                for layer in result.layers {
                    bench.model.setMLPOutputWeight(layer: layer.layer, layer.applied(to: bench.model.mlpOutputWeight(layer: layer.layer)))
                }
                verification.record(edit, batch: chunk.count)
                inForce += edit.requests
            } else {
                result = try EditPlanner.computeEdit(model: bench.model, tokenizer: bench.tokenizer, requests: chunk, method: method,
                                                     hyperparameters: h, statistics: statistics, previousKeys: memory,
                                                     previousGrams: grams, previousContextKeys: contextMemory,
                                                     lifelongStatistics: lifelong, apply: true,
                                                     progress: { clock.observe($0) })
                inForce += chunk
            }
            lifelong = result.lifelongStatistics
            if keepGrams {
                for edit in result.layers {
                    let keys = edit.keys.toDouble()
                    var gram = grams[edit.layer] ?? Matrix<Double>(rows: keys.rows, cols: keys.rows)
                    gram.addProduct(keys, keys, transposeB: true)
                    grams[edit.layer] = gram
                }
            } else {
                memory = result.memory(appendingTo: memory)
            }
            plannerTop1 += result.facts.filter(\.efficacy).count
            let prompts = try chunk.flatMap { request in
                try ([""] + result.prefixes).map { try FactTokenization.prompt(request, prefix: $0, tokenizer: bench.tokenizer) }
            }
            let (_, seconds) = Measure.seconds {
                for layer in h.sortedLayers {
                    _ = bench.model.keys(prompts: prompts.map(\.ids), positions: prompts.map(\.subjectPosition), layer: layer)
                }
            }
            keysSeconds += seconds
        }
    }

    /// `edit-quality`: MLEDIT_BENCH_QUALITY_FACTS (64) CounterFact records with distinct subjects,
    /// edited by each configuration of MLEDIT_BENCH_QUALITY_RUNS (default
    /// memit-64,emmet-64,memit-8,emmet-8,rome-1,memit-1,emmet-1; ROME always one fact at a time)
    /// starting from the unedited model; CounterFact scores before and after, seconds per stage.
    /// Set MLEDIT_BENCH_REUSE_STATISTICS=1 to read cached statistics instead of timing their
    /// computation, MLEDIT_BENCH_HPARAMS to override the defaults, MLEDIT_BENCH_QUALITY_SKIP to
    /// pass over that many facts first (a held-out slice), MLEDIT_BENCH_QUALITY_VERIFY=1 to solve
    /// every batch as `mledit commit --allow-partial` does (verified, a second round, facts that
    /// still do not land left out). Arguments: model, facts file (CounterFact or zsRE).
    static func editQuality(_ arguments: [String]) throws -> [String: Any] {
        let count = integerEnvironment("MLEDIT_BENCH_QUALITY_FACTS", 64)
        let skip = integerEnvironment("MLEDIT_BENCH_QUALITY_SKIP", 0)
        let verify = ProcessInfo.processInfo.environment["MLEDIT_BENCH_QUALITY_VERIFY"] == "1"
        let spec = ProcessInfo.processInfo.environment["MLEDIT_BENCH_QUALITY_RUNS"]
            ?? "memit-64,emmet-64,memit-8,emmet-8,rome-1,memit-1,emmet-1"
        var runs: [QualityRun] = []
        for item in spec.split(separator: ",") {
            let parts = item.split(separator: "-")
            guard parts.count == 2, let method = EditMethod(rawValue: String(parts[0])), let batch = Int(parts[1]), batch > 0 else {
                throw BenchmarkFailure("MLEDIT_BENCH_QUALITY_RUNS: '\(item)' is not method-batch (e.g. memit-8)")
            }
            runs.append(QualityRun(method: method, batch: method == .rome ? 1 : batch))
        }
        let (bench, loadSeconds) = try Measure.seconds {
            try QualityBench(arguments: arguments, factCount: count, skip: skip, methods: runs.map(\.method))
        }
        let config = bench.model.configuration
        let allLayers = Array(bench.baseWeights.keys).sorted()
        let statisticsHyperparameters = try QualityBench.hyperparameters(for: config, method: runs.first?.method ?? .memit)
        let reuse = ProcessInfo.processInfo.environment["MLEDIT_BENCH_REUSE_STATISTICS"] == "1"
        let (statistics, statisticsFigures) = try bench.statistics(layers: allLayers, hyperparameters: statisticsHyperparameters, recompute: !reuse)
        stderr("edit-quality: statistics \(jsonLine(statisticsFigures))")
        bench.restoreBase()
        let before = try bench.evaluate(bench.facts)
        stderr("edit-quality: before \(jsonLine(before))")

        var results: [String: Any] = [:]
        for run in runs {
            bench.restoreBase()
            var h = try QualityBench.hyperparameters(for: config, method: run.method)
            guard h.statisticsTokenCount == statisticsHyperparameters.statisticsTokenCount else {
                throw BenchmarkFailure("\(run.name): defaults ask for statistics over \(h.statisticsTokenCount) tokens")
            }
            h.layers = h.sortedLayers
            let clock = StageClock()
            var memory: [Int: Matrix<Float>] = [:], keysSeconds = 0.0, plannerTop1 = 0
            var unusedGrams: [Int: Matrix<Double>] = [:], lifelong: [Int: LifelongNormalizer] = [:]
            let tally = verify ? VerificationTally() : nil
            let (_, editSeconds) = try Measure.seconds {
                try applyInBatches(bench, facts: bench.facts, method: run.method, batch: run.batch, hyperparameters: h,
                                   statistics: statistics, memory: &memory, grams: &unusedGrams, keepGrams: false,
                                   lifelong: &lifelong, clock: clock, keysSeconds: &keysSeconds,
                                   plannerTop1: &plannerTop1, verification: tally)
            }
            let after = try bench.evaluate(bench.facts, outcomes: tally?.outcomes ?? [:])
            let stage = clock.seconds
            let layersSeconds = stage[.layers] ?? 0
            var figures: [String: Any] = [
                "method": run.method.rawValue, "batch": run.batch, "edit_seconds_per_fact": editSeconds / Double(count), "edits": (count + run.batch - 1) / run.batch,
                "layers": h.sortedLayers, "preservation_weight": h.preservationWeight, "clamp_norm_factor": h.clampNormFactor,
                "after": after, "edit_seconds": editSeconds,
                "prefixes_seconds": stage[.prefixes] ?? 0, "targets_seconds": stage[.targets] ?? 0,
                "layers_stage_seconds": layersSeconds, "keys_seconds_measured_apart": keysSeconds,
                "solve_seconds_estimate": max(0, layersSeconds - keysSeconds),
                "planner_check_seconds": stage[.evaluation] ?? 0,
                "targets_seconds_per_fact": (stage[.targets] ?? 0) / Double(count),
                "top1_right_after_own_batch": Double(plannerTop1) / Double(count),
                "hyperparameters": (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(h))) ?? NSNull(),
            ]
            if let tally { figures["verification"] = tally.figures }
            results[run.name] = figures
            stderr("edit-quality: \(run.name) \(jsonLine(figures))")
        }
        bench.restoreBase()
        return [
            "model": bench.modelURL.path, "facts_file": bench.factsPath, "facts": count,
            "first_case_line": bench.facts.first?.line ?? 0, "skipped": skip, "verified": verify, "load_seconds": loadSeconds,
            "statistics": statisticsFigures, "before": before, "runs": results, "order": runs.map(\.name),
        ]
    }
}

