// `mledit inspect`: what a checkpoint holds — architecture, dimensions, tensors, tokenizer.
import Checkpoints
import Foundation
import MLEdit
import Tensors
import Models

enum InspectCommand {
    static let spec = CommandSpec(
        name: "inspect",
        abstract: "Describe a model checkpoint: architecture, dimensions, tensors, tokenizer.",
        arguments: [ArgumentSpec("MODEL", optional: true, help: "A GGUF file or a Hugging Face model folder (default: the repository's base model, else the default model).")],
        options: [
            OptionSpec(["--tensors"], help: "List every tensor (the text output shows the first layers otherwise)."),
            OptionSpec(["--json"], help: "Print JSON."),
        ],
        run: run)

    struct TensorRow {
        var name: String
        var type: String
        var shape: [Int]
        var bytes: Int
    }

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let url = try ModelResolution.modelURL(arguments.positional(0), session: console.session)
        let (configuration, _, _) = try ModelLoader.open(url: url)
        let tokenizer = try ModelResolution.tokenizer(for: url)
        let format: String
        let rows: [TensorRow]
        if ModelResolution.isGGUF(url) {
            let file = try GGUFFile(contentsOf: url)
            format = "GGUF v\(file.version)"
            rows = file.tensors.map { TensorRow(name: $0.name, type: $0.type.name, shape: $0.shape, bytes: $0.byteCount) }
        } else {
            let folder = ModelResolution.huggingFaceFolder(url)
            let file = try SafetensorsFile(contentsOf: folder.appendingPathComponent("model.safetensors"))
            format = "safetensors"
            rows = file.tensors.map { TensorRow(name: $0.name, type: $0.dtype.rawValue, shape: $0.shape, bytes: $0.dataRange.count) }
        }
        let parameterCount = rows.reduce(0) { $0 + $1.shape.reduce(1, *) }
        let tokenizerFacts: [String: Any] = [
            "vocabulary_size": tokenizer.vocabularySize,
            "pre_tokenizer": tokenizer.preTokenizer.rawValue,
            "bos_token_id": tokenizer.bosTokenID as Any? ?? NSNull(),
            "eos_token_id": tokenizer.eosTokenID as Any? ?? NSNull(),
            "add_bos": tokenizer.addBOS,
        ]
        if arguments.flag("--json") {
            try console.printJSON([
                "path": url.path, "format": format, "configuration": configurationDictionary(configuration),
                "parameters": parameterCount, "tokenizer": tokenizerFacts,
                "tensors": rows.map { ["name": $0.name, "type": $0.type, "shape": $0.shape, "bytes": $0.bytes] as [String: Any] },
                "blas": BLASKernels.summary(environment: console.environment),
            ])
            return
        }
        let c = configuration
        console.print("model:        \(url.path)")
        console.print("format:       \(format), \(rows.count) tensors, \(parameterCount) parameters, \(rows.reduce(0) { $0 + $1.bytes }) bytes of tensor data")
        let family = c.family.map { " (\($0.rawValue))" } ?? ""
        console.print("architecture: \(c.architecture.rawValue)\(family), \(c.layerCount) layers, d_model \(c.hiddenSize), d_ff \(c.intermediateSize)")
        console.print("attention:    \(c.headCount) heads, \(c.keyValueHeadCount) key/value heads, head dim \(c.headDimension), context \(c.contextLength)")
        var constants = "norm eps \(c.normEpsilon), tied embeddings \(c.tiedEmbeddings ? "yes" : "no")"
        if c.architecture == .llama { constants += ", rope theta \(c.ropeTheta), q/k/v bias \(c.attentionBias ? "yes" : "no")" }
        if c.architecture == .gptj {
            constants += ", rope theta \(c.ropeTheta), rotary dim \(c.rotatedDimensions) of head dim \(c.headDimension), parallel attention and MLP"
        }
        console.print("constants:    \(constants)")
        var positions: [String] = []
        if let window = c.slidingWindow { positions.append("sliding window \(window)") }
        switch c.ropeScaling {
        case let .llama3(scaling):
            positions.append("rope llama3 ×\(scaling.factor), low/high frequency factor \(scaling.lowFrequencyFactor)/\(scaling.highFrequencyFactor), original context \(scaling.originalContextLength)")
        case let .frequencyDivisors(divisors):
            positions.append("rope llama3 frequency divisors \(divisors.map { "\($0)" }.joined(separator: " "))")
        case nil:
            break
        }
        if let gemma = c.gemma3 {
            let global = gemma.slidingLayers.indices.filter { !gemma.slidingLayers[$0] }.map(String.init).joined(separator: ",")
            positions.append("sliding window \(gemma.slidingWindow) (rope theta \(gemma.localRopeTheta)), global layers \(global) (rope theta \(c.ropeTheta)), query scale 1/√\(gemma.queryPreAttentionScalar)")
        }
        if !positions.isEmpty { console.print("positions:    \(positions.joined(separator: ", "))") }
        let splitting = tokenizer.algorithm == "byte-level BPE" ? ", pre-tokenizer \(tokenizer.preTokenizer.rawValue)" : ""
        console.print("tokenizer:    \(tokenizer.algorithm), \(tokenizer.vocabularySize) tokens\(splitting), "
            + "bos \(tokenizer.bosTokenID.map(String.init) ?? "-"), eos \(tokenizer.eosTokenID.map(String.init) ?? "-"), add bos \(tokenizer.addBOS ? "yes" : "no")")
        console.print("blas:         \(BLASKernels.summary(environment: console.environment))")
        console.print("")
        let shown = arguments.flag("--tensors") ? rows : rows.filter { !isLaterLayer($0.name) }
        let width = max(20, (shown.map(\.name.count).max() ?? 0) + 2)
        for row in shown {
            let name = row.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let type = row.type.padding(toLength: 6, withPad: " ", startingAt: 0)
            console.print("\(name)\(type) \(row.shape.map(String.init).joined(separator: "×"))")
        }
        if shown.count < rows.count {
            console.print("… \(rows.count - shown.count) more tensors in later layers (--tensors lists all)")
        }
    }

    /// Tensors of layers after the first, which repeat the first layer's names and shapes.
    static func isLaterLayer(_ name: String) -> Bool {
        for prefix in ["blk.", "model.layers.", "h.", "transformer.h."] where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            if let layer = Int(rest.prefix { $0.isNumber }) { return layer > 0 }
        }
        return false
    }

    static func configurationDictionary(_ configuration: ModelConfiguration) throws -> Any {
        let data = try JSONEncoder().encode(configuration)
        return try JSONSerialization.jsonObject(with: data)
    }
}
