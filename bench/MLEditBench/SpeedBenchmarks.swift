// What a commit's compute costs with 1 and 2 worker threads (issue: edits at the speed of the
// hardware): sgemm throughput at the shapes of a δ step (`gemm-threads`), batched target
// optimisation on CounterFact facts (`targets`) and the preservation-statistics pass
// (`statistics`). Every figure names the BLAS kernels it ran with.
import Checkpoints
import Foundation
import Models
import Solvers
import Tensors

extension Benchmarks {
    /// GFLOP/s of the products of one δ step (block projections at T rows, the LM head) per thread count.
    static func gemmThreads(_ arguments: [String]) throws -> [String: Any] {
        var out: [String: Any] = [:]
        let shapes: [(name: String, m: Int, n: Int, k: Int, transposeB: Bool)] = [
            ("block_forward_t200", 200, 1536, 576, true), ("block_backward_t200", 200, 576, 1536, false),
            ("block_forward_t50", 50, 1536, 576, true), ("head_forward_r120", 120, 49152, 576, true),
            ("head_backward_r120", 120, 576, 49152, false), ("statistics_gram_f64", 1536, 1536, 2048, false),
        ]
        for shape in shapes {
            for threads in [1, 2] {
                ComputeThreads.configure(count: threads)
                let flops = 2.0 * Double(shape.m * shape.n * shape.k)
                let seconds: Double
                if shape.name.hasSuffix("f64") {
                    let a = Matrix<Double>(rows: shape.k, cols: shape.m, values: (0..<(shape.k * shape.m)).map { Double($0 % 17) * 0.01 })
                    var c = Matrix<Double>(rows: shape.m, cols: shape.n)
                    seconds = Measure.best(of: 3) { c.addProduct(a, a, transposeA: true) }
                } else {
                    let a = Matrix<Float>(rows: shape.m, cols: shape.k, values: (0..<(shape.m * shape.k)).map { Float($0 % 13) * 0.01 })
                    let bRows = shape.transposeB ? shape.n : shape.k, bCols = shape.transposeB ? shape.k : shape.n
                    let b = Matrix<Float>(rows: bRows, cols: bCols, values: (0..<(bRows * bCols)).map { Float($0 % 7) * 0.01 })
                    seconds = Measure.best(of: 5) { _ = a.multiplied(by: b, transposeOther: shape.transposeB) }
                }
                out["\(shape.name)_gflops_threads\(threads)"] = flops / seconds / 1e9
            }
        }
        ComputeThreads.configure(count: nil)
        return out
    }
}

extension Benchmarks {
    /// Target optimisation (the δ of every fact) on CounterFact facts: batches of 1 (8 facts in
    /// turn), 10 and 64, each with 1 and 2 worker threads; seconds per fact and mean steps.
    static func targets(_ arguments: [String]) throws -> [String: Any] {
        let bench = try QualityBench(arguments: arguments, factCount: 64, methods: [.memit])
        let h = EditHyperparameters.defaults(for: bench.model.configuration, method: .memit)
        let prefixes = ContextPrefixSampler.sample(model: bench.model, tokenizer: bench.tokenizer, count: h.prefixCount,
                                                   length: h.prefixLength, topK: h.prefixTopK, seed: h.seed)
        let layer = h.sortedLayers[h.sortedLayers.count - 1]
        var out: [String: Any] = ["facts_file": bench.factsPath, "layer": layer]
        for threads in [1, 2] {
            ComputeThreads.configure(count: threads)
            for batch in [1, 10, 64] {
                let requests = Array(bench.facts.prefix(batch == 1 ? 8 : batch))
                let cpuStart = Measure.processCPUSeconds
                let (values, seconds) = try Measure.seconds { () -> [TargetValue] in
                    if batch == 1 {
                        return try requests.map {
                            try TargetValueOptimizer.optimize(model: bench.model, tokenizer: bench.tokenizer, request: $0,
                                                              prefixes: prefixes, layer: layer, hyperparameters: h)
                        }
                    }
                    return try TargetValueOptimizer.optimize(model: bench.model, tokenizer: bench.tokenizer, requests: requests,
                                                             prefixes: prefixes, layer: layer, hyperparameters: h)
                }
                let key = "batch\(batch)_threads\(threads)"
                out["\(key)_seconds_per_fact"] = seconds / Double(requests.count)
                out["\(key)_cpu_seconds_per_fact"] = (Measure.processCPUSeconds - cpuStart) / Double(requests.count)
                out["\(key)_mean_steps"] = Double(values.map(\.steps).reduce(0, +)) / Double(values.count)
                out["\(key)_top1"] = Double(values.filter(\.allTop1).count) / Double(values.count)
                stderr("targets: \(key) \(seconds) s")
            }
        }
        ComputeThreads.configure(count: nil)
        return out
    }

    /// The preservation-statistics pass over 10,000 Wikipedia tokens for SmolLM2's MEMIT layers
    /// (3–7), with 1 and 2 worker threads: tokens per second.
    static func statisticsThroughput(_ arguments: [String]) throws -> [String: Any] {
        let modelURL = Benchmarks.modelURL(arguments)
        let model = try ModelLoader.load(url: modelURL)
        let tokenizer = try Tokenizer(gguf: GGUFFile(contentsOf: modelURL))
        let h = EditHyperparameters.defaults(for: model.configuration, method: .memit)
        let tokens = 10_000
        var out: [String: Any] = ["tokens": tokens, "layers": h.sortedLayers, "sequence_length": h.statisticsSequenceLength]
        var moments: [[Double]] = []
        for threads in [1, 2] {
            ComputeThreads.configure(count: threads)
            let (statistics, seconds) = try Measure.seconds {
                try StatisticsCollector.collect(model: model, tokenizer: tokenizer, corpus: CorpusReader(paths: QualityBench.corpusPaths),
                                                layers: h.sortedLayers, tokenCount: tokens, sequenceLength: h.statisticsSequenceLength)
            }
            moments.append(statistics[h.sortedLayers[0]]?.moment.values ?? [])
            out["threads\(threads)_tokens_per_second"] = Double(tokens) / seconds
            out["threads\(threads)_seconds"] = seconds
        }
        out["same_bits_for_1_and_2_threads"] = moments[0] == moments[1]
        ComputeThreads.configure(count: nil)
        return out
    }
}
