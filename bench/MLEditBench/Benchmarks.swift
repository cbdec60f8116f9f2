// The benchmarks, by name. Each takes its arguments and returns named figures.
import Checkpoints
import Foundation
import Models

enum Benchmarks {
    typealias Benchmark = @Sendable ([String]) throws -> [String: Any]

    static let all: [String: Benchmark] = [
        "edit-quality": editQuality,
        "sequential": sequential,
        "checkpoint-open": checkpointOpen,
        "tokenizer": tokenizerThroughput,
        "forward": forward,
        "generate": generate,
        "delta-step": deltaStep,
        "export": export,
        "revert": revertLineage,
        "rebase-model": rebaseModel,
        "ledger-storage": ledgerStorage,
        "materialize": materialize,
        "tiny-facts": tinyFactsQuality,
        "gemm-threads": gemmThreads,
        "targets": targets,
        "statistics": statisticsThroughput,
        "memory-cost": memoryCost,
        "grow-history": growHistory,
    ]

    static func modelURL(_ arguments: [String]) -> URL {
        if let path = arguments.first { return URL(fileURLWithPath: path) }
        let cache = ProcessInfo.processInfo.environment["MLEDIT_CACHE"] ?? NSHomeDirectory() + "/.cache/mledit"
        return URL(fileURLWithPath: cache).appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    /// Open the default model's GGUF and dequantize every tensor to Float32.
    static func checkpointOpen(_ arguments: [String]) throws -> [String: Any] {
        let url = modelURL(arguments)
        let (file, openSeconds) = try Measure.seconds { try GGUFFile(contentsOf: url) }
        var elements = 0
        let (_, dequantizeSeconds) = try Measure.seconds {
            for tensor in file.tensors {
                let values = try file.floats(for: tensor)
                elements += values.count
            }
        }
        return ["open_seconds": openSeconds, "dequantize_seconds": dequantizeSeconds,
                "tensors": file.tensors.count, "elements": elements,
                "elements_per_second": Double(elements) / dequantizeSeconds]
    }

    /// Tokenizer throughput on a few MB of text (the corpus if present, else the fixtures' prompts).
    static func tokenizerThroughput(_ arguments: [String]) throws -> [String: Any] {
        let url = modelURL(Array(arguments.prefix(1)))
        let textURL = arguments.count > 1 ? URL(fileURLWithPath: arguments[1])
            : url.deletingLastPathComponent().appendingPathComponent("enwiki-sample.txt")
        let tokenizer = try Tokenizer(gguf: GGUFFile(contentsOf: url))
        let text = try String(contentsOf: textURL, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        var tokens = 0
        let (_, seconds) = Measure.seconds {
            for line in lines { tokens += tokenizer.encode(line).count }
        }
        return ["bytes": text.utf8.count, "tokens": tokens, "seconds": seconds,
                "tokens_per_second": Double(tokens) / seconds, "megabytes_per_second": Double(text.utf8.count) / 1e6 / seconds]
    }
}
