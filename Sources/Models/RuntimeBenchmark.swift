// Timings of the transformer runtime on a model file, for bench/ and for deciding what to
// optimise: batched and long-prompt forward throughput, KV-cache generation, and the δ-session
// evaluation that is the inner loop of every edit. Inputs are seeded pseudo-random token ids.
// Not a test: nothing is asserted here.
import Foundation
import Tensors

/// Runtime throughput measurements.
public enum RuntimeBenchmark {
    /// Loads the model at `modelURL` and times its main operations (best of `repetitions`).
    /// Keys (units in the name): `load_seconds`, `forward_batch16x16_tokens_per_second`,
    /// `forward_512_tokens_per_second`, `generate_tokens_per_second` (64 new tokens),
    /// `delta_session_setup_ms`, `delta_evaluate_ms` (layer 4, 11 prompts, `delta_prompt_tokens`
    /// tokens), each also per CPU second / CPU ms (`…_cpu_…`), and `blas_threads`.
    /// - Throws: `ModelError` when the model cannot be loaded.
    public static func run(modelURL: URL, repetitions: Int = 3) throws -> [String: Double] {
        var results: [String: Double] = [:]
        let loadStart = Date()
        let model = try ModelLoader.load(url: modelURL)
        results["load_seconds"] = Date().timeIntervalSince(loadStart)
        let V = model.configuration.vocabularySize
        let C = model.configuration.hiddenSize
        var generator = SeededGenerator(seed: 2024)
        func prompt(_ length: Int) -> [Int] {
            (0..<length).map { _ in 17 + Int(generator.next() % UInt64(max(V - 17, 1))) }
        }

        let batch = (0..<16).map { _ in prompt(16) }
        var cpu = 0.0
        let batchSeconds = best(of: repetitions, cpuSeconds: &cpu) {
            _ = model.logits(prompts: batch, positions: batch.map { $0.count - 1 })
        }
        results["forward_batch16x16_tokens_per_second"] = 256 / batchSeconds
        results["forward_batch16x16_tokens_per_cpu_second"] = 256 / cpu

        let long = prompt(min(512, model.configuration.contextLength))
        let longSeconds = best(of: repetitions, cpuSeconds: &cpu) { _ = model.logits(prompts: [long], positions: [long.count - 1]) }
        results["forward_512_tokens_per_second"] = Double(long.count) / longSeconds
        results["forward_512_tokens_per_cpu_second"] = Double(long.count) / cpu

        let start = prompt(8)
        let newTokens = min(64, model.configuration.contextLength - start.count)
        let generateSeconds = best(of: repetitions, cpuSeconds: &cpu) {
            _ = model.generate(prompt: start, maxNewTokens: newTokens, sampling: SamplingOptions(stopTokenIDs: []))
        }
        results["generate_tokens_per_second"] = Double(newTokens) / generateSeconds
        results["generate_tokens_per_cpu_second"] = Double(newTokens) / cpu

        // The δ session as target-value optimisation uses it: 10 prefixed prompts with the target
        // tokens teacher-forced, δ at the subject's last token, plus one "{subject} is a" KL prompt.
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
        var session: DeltaSession?
        results["delta_session_setup_ms"] = 1000 * best(of: repetitions, cpuSeconds: &cpu) {
            session = model.deltaSession(prompts: prompts, deltaPositions: deltaPositions, layer: layer)
        }
        results["delta_session_setup_cpu_ms"] = 1000 * cpu
        if let session {
            let delta = (0..<C).map { _ in Float(generator.nextGaussian()) }
            let weights = [Float](repeating: 1 / Float(tokenTargets.count), count: tokenTargets.count)
            results["delta_evaluate_ms"] = 1000 * best(of: max(repetitions, 5), cpuSeconds: &cpu) {
                _ = session.evaluate(delta: delta, tokenTargets: tokenTargets, tokenWeights: weights,
                                     distributionTargets: distribution, klWeights: [0.0625])
            }
            results["delta_evaluate_cpu_ms"] = 1000 * cpu
        }
        results["blas_threads"] = Double(BLAS.threadCount)
        results["delta_prompt_tokens"] = Double(prompts.reduce(0) { $0 + $1.count })
        return results
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
