// Timings of the transformer runtime on a loaded model, for bench/ and for deciding what to
// optimise: batched and long-prompt forward throughput, KV-cache generation, and the δ-session
// evaluation that is the inner loop of every edit. Inputs are seeded pseudo-random token ids.
// Not a test: nothing is asserted here.
import Foundation
import Models
import Tensors

/// Runtime throughput measurements. Each part takes a loaded model, so a caller can time one
/// part per process (its peak memory then belongs to that part alone).
public enum RuntimeBenchmark {
    /// Loads the model at `modelURL` and runs every part (best of `repetitions` each).
    /// Keys are those of `forward`, `generation` and `deltaStep`, plus `load_seconds`.
    /// - Throws: `ModelError` when the model cannot be loaded.
    public static func run(modelURL: URL, repetitions: Int = 3) throws -> [String: Double] {
        let (model, loadSeconds) = try load(modelURL)
        var results = ["load_seconds": loadSeconds]
        for part in [forward(model, repetitions: repetitions), generation(model, repetitions: repetitions),
                     deltaStep(model, repetitions: repetitions)] {
            results.merge(part) { first, _ in first }
        }
        return results
    }

    /// Loads the model at `modelURL` and returns it with the wall-clock seconds the load took.
    /// - Throws: `ModelError` when the model cannot be loaded.
    public static func load(_ modelURL: URL) throws -> (any TransformerModel, Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let model = try ModelLoader.load(url: modelURL)
        return (model, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// Forward throughput: 16 prompts of 16 tokens in one packed batch and the same prompts one
    /// forward each, and one 512-token prompt (capped at the context length), logits at the last
    /// position of each prompt. Keys: `forward_batch16x16_tokens_per_second`,
    /// `forward_16x16_unpacked_tokens_per_second`, `forward_512_tokens_per_second`, their
    /// `…_per_cpu_second` twins, `forward_long_prompt_tokens`, `blas_threads`.
    public static func forward(_ model: any TransformerModel, repetitions: Int = 3) -> [String: Double] {
        var generator = SeededGenerator(seed: 2024)
        var results: [String: Double] = [:]
        let batch = (0..<16).map { _ in randomTokens(16, model: model, generator: &generator) }
        var cpu = 0.0
        let batchSeconds = best(of: repetitions, cpuSeconds: &cpu) {
            _ = model.logits(prompts: batch, positions: batch.map { $0.count - 1 })
        }
        results["forward_batch16x16_tokens_per_second"] = 256 / batchSeconds
        results["forward_batch16x16_tokens_per_cpu_second"] = 256 / cpu
        // The same 16 prompts one forward each: what packing them into one (T, C) matrix gains.
        let unpackedSeconds = best(of: repetitions, cpuSeconds: &cpu) {
            for prompt in batch { _ = model.logits(prompts: [prompt], positions: [prompt.count - 1]) }
        }
        results["forward_16x16_unpacked_tokens_per_second"] = 256 / unpackedSeconds
        results["forward_16x16_unpacked_tokens_per_cpu_second"] = 256 / cpu

        let long = randomTokens(min(512, model.configuration.contextLength), model: model, generator: &generator)
        let longSeconds = best(of: repetitions, cpuSeconds: &cpu) { _ = model.logits(prompts: [long], positions: [long.count - 1]) }
        results["forward_512_tokens_per_second"] = Double(long.count) / longSeconds
        results["forward_512_tokens_per_cpu_second"] = Double(long.count) / cpu
        results["forward_long_prompt_tokens"] = Double(long.count)
        results["blas_threads"] = Double(BLAS.threadCount)
        return results
    }

    /// Generation throughput with the KV cache: 64 new tokens (greedy, no stop token) after an
    /// 8-token prompt, and the same tokens recomputed without the cache (a full forward per step).
    /// Keys: `generate_tokens_per_second`, `generate_tokens_per_cpu_second`, `generate_new_tokens`,
    /// `generate_no_cache_tokens_per_(cpu_)second`, `generate_no_cache_same_tokens` (1 when both
    /// pick the same tokens), `blas_threads`.
    public static func generation(_ model: any TransformerModel, repetitions: Int = 3) -> [String: Double] {
        var generator = SeededGenerator(seed: 2025)
        let start = randomTokens(8, model: model, generator: &generator)
        let newTokens = min(64, model.configuration.contextLength - start.count)
        var cpu = 0.0
        let seconds = best(of: repetitions, cpuSeconds: &cpu) {
            _ = model.generate(prompt: start, maxNewTokens: newTokens, sampling: SamplingOptions(stopTokenIDs: []))
        }
        var results = ["generate_tokens_per_second": Double(newTokens) / seconds,
                       "generate_tokens_per_cpu_second": Double(newTokens) / cpu,
                       "generate_new_tokens": Double(newTokens), "blas_threads": Double(BLAS.threadCount)]
        // Without the KV cache: every step runs the whole sequence again (once, it is slow).
        let cached = model.generate(prompt: start, maxNewTokens: newTokens, sampling: SamplingOptions(stopTokenIDs: [])).tokens
        var recomputed: [Int] = []
        let uncachedSeconds = best(of: 1, cpuSeconds: &cpu) {
            var sequence = start
            for _ in 0..<newTokens {
                let logits = model.logits(prompts: [sequence], positions: [sequence.count - 1]).row(0)
                var best = 0
                for (i, value) in logits.enumerated() where value > logits[best] { best = i }
                sequence.append(best)
                recomputed.append(best)
            }
        }
        results["generate_no_cache_tokens_per_second"] = Double(newTokens) / uncachedSeconds
        results["generate_no_cache_tokens_per_cpu_second"] = Double(newTokens) / cpu
        results["generate_no_cache_same_tokens"] = recomputed == cached ? 1 : 0
        return results
    }

    /// The δ session as target-value optimisation uses it, at layer 4 (or the last layer): 10
    /// prefixed prompts of ~12 tokens with the target tokens teacher-forced and δ at the
    /// subject's last token, plus one "{subject} is a" KL prompt. Keys: `delta_session_setup_ms`,
    /// `delta_evaluate_ms` (one loss-and-gradient evaluation), their `…_cpu_ms` twins,
    /// `delta_prompts`, `delta_prompt_tokens`, `delta_layer`, `blas_threads`.
    public static func deltaStep(_ model: any TransformerModel, repetitions: Int = 3) -> [String: Double] {
        var generator = SeededGenerator(seed: 2026)
        func prompt(_ length: Int) -> [Int] { randomTokens(length, model: model, generator: &generator) }
        let layer = min(4, model.configuration.layerCount - 1)
        let subject = prompt(3), relation = prompt(3), target = prompt(2), kl = prompt(2)
        var prompts: [[Int]] = []
        var deltaPositions: [Int] = []
        var tokenTargets: [TokenTarget] = []
        for p in 0..<10 {
            let prefix = p == 0 ? [] : prompt(4 + p % 4)
            let ids = prefix + subject + relation + target.dropLast()
            for (j, token) in target.enumerated() {
                tokenTargets.append(TokenTarget(prompt: p, position: prefix.count + subject.count + relation.count - 1 + j, tokenID: token))
            }
            prompts.append(ids)
            deltaPositions.append(prefix.count + subject.count - 1)
        }
        prompts.append(subject + kl)
        deltaPositions.append(subject.count - 1)
        let reference = model.logProbabilities(prompts: [subject + kl], positions: [subject.count + kl.count - 1]).row(0)
        let distribution = [DistributionTarget(prompt: 10, position: subject.count + kl.count - 1, referenceLogProbabilities: reference)]
        var results: [String: Double] = [:]
        var cpu = 0.0
        var session: DeltaSession?
        results["delta_session_setup_ms"] = 1000 * best(of: repetitions, cpuSeconds: &cpu) {
            session = model.deltaSession(prompts: prompts, deltaPositions: deltaPositions, layer: layer)
        }
        results["delta_session_setup_cpu_ms"] = 1000 * cpu
        if let session {
            let delta = (0..<model.configuration.hiddenSize).map { _ in Float(generator.nextGaussian()) }
            let weights = [Float](repeating: 1 / Float(tokenTargets.count), count: tokenTargets.count)
            results["delta_evaluate_ms"] = 1000 * best(of: max(repetitions, 5), cpuSeconds: &cpu) {
                _ = session.evaluate(delta: delta, tokenTargets: tokenTargets, tokenWeights: weights,
                                     distributionTargets: distribution, klWeights: [0.0625])
            }
            results["delta_evaluate_cpu_ms"] = 1000 * cpu
        }
        results["delta_prompts"] = Double(prompts.count)
        results["delta_prompt_tokens"] = Double(prompts.reduce(0) { $0 + $1.count })
        results["delta_layer"] = Double(layer)
        results["blas_threads"] = Double(BLAS.threadCount)
        return results
    }

    /// `length` seeded token ids, avoiding the first 17 ids (special tokens in both vocabularies).
    private static func randomTokens(_ length: Int, model: any TransformerModel, generator: inout SeededGenerator) -> [Int] {
        let V = model.configuration.vocabularySize
        return (0..<length).map { _ in 17 + Int(generator.next() % UInt64(max(V - 17, 1))) }
    }

    /// The fastest of `count` runs, in wall-clock seconds; the process CPU seconds of the run
    /// with the least CPU time go to `cpuSeconds` (on a busy machine, the better estimate of the
    /// idle wall time with one BLAS thread).
    private static func best(of count: Int, cpuSeconds: inout Double, _ body: () -> Void) -> Double {
        var fastest = Double.infinity
        cpuSeconds = .infinity
        for _ in 0..<max(count, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            let cpuStart = processCPUSeconds()
            body()
            cpuSeconds = min(cpuSeconds, processCPUSeconds() - cpuStart)
            fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return fastest
    }

    private static func processCPUSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
