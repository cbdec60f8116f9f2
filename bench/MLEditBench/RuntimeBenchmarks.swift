// Runtime benchmarks on the default model: forward throughput (`forward`), KV-cache generation
// (`generate`) and one δ-session evaluation, the inner loop of every edit (`delta-step`). Each is
// its own benchmark so that each runs in its own process and reports its own peak memory; the
// timing code is RuntimeBenchmark.swift. One BLAS thread unless OPENBLAS_NUM_THREADS says otherwise.
import Foundation
import Models

extension Benchmarks {
    /// 16 × 16-token batch and one 512-token prompt, tokens per second.
    static func forward(_ arguments: [String]) throws -> [String: Any] {
        let (model, loadSeconds) = try RuntimeBenchmark.load(modelURL(arguments))
        return figures(RuntimeBenchmark.forward(model), loadSeconds: loadSeconds)
    }

    /// 64 greedy tokens after an 8-token prompt, tokens per second.
    static func generate(_ arguments: [String]) throws -> [String: Any] {
        let (model, loadSeconds) = try RuntimeBenchmark.load(modelURL(arguments))
        return figures(RuntimeBenchmark.generation(model), loadSeconds: loadSeconds)
    }

    /// δ-session setup and one evaluation (loss and gradient) at layer 4, 11 prompts of ~12 tokens.
    static func deltaStep(_ arguments: [String]) throws -> [String: Any] {
        let (model, loadSeconds) = try RuntimeBenchmark.load(modelURL(arguments))
        return figures(RuntimeBenchmark.deltaStep(model), loadSeconds: loadSeconds)
    }

    private static func figures(_ measured: [String: Double], loadSeconds: Double) -> [String: Any] {
        var out: [String: Any] = measured
        out["load_seconds"] = loadSeconds
        return out
    }
}
