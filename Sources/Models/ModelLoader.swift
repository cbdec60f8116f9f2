// Opens a checkpoint and builds the model it holds: a .gguf file, or model.safetensors with its
// config.json (a folder holding both, or the .safetensors file itself). Every source is converted
// to the internal convention here (WeightSource.swift): GGUF Q/K rows of llama files un-permuted
// from llama.cpp's interleaved RoPE order to rotate-half order, GPT-2 Conv1D weights transposed to out × in,
// GPT-2's fused c_attn split into q/k/v, and Phi-3's fused qkv_proj and gate_up_proj split
// (Phi3Layout.swift). Weights are dequantized to Float32 (or widened to Double).
import Checkpoints
import Foundation
import Tensors

/// The scalar type a loaded model computes in.
public enum Precision: String, Sendable {
    case float32
    /// For gradient checks: slower, twice the memory.
    case float64
}

/// Loads models from checkpoint files.
public enum ModelLoader {
    /// Loads the model at `url`, choosing the reader by file type.
    /// - Throws: `ModelError` (unknown path, bad configuration, missing or misshapen tensors,
    ///   unreadable checkpoint).
    public static func load(url: URL, precision: Precision = .float32) throws -> any TransformerModel {
        let (configuration, weights, eos) = try open(url: url)
        switch (configuration.architecture, precision) {
        case (.llama, .float32): return try LlamaModel<Float>(configuration: configuration, weights: weights, eosTokenID: eos)
        case (.llama, .float64): return try LlamaModel<Double>(configuration: configuration, weights: weights, eosTokenID: eos)
        case (.gpt2, .float32): return try GPT2Model<Float>(configuration: configuration, weights: weights, eosTokenID: eos)
        case (.gpt2, .float64): return try GPT2Model<Double>(configuration: configuration, weights: weights, eosTokenID: eos)
        case (.gptj, .float32): return try GPTJModel<Float>(configuration: configuration, weights: weights, eosTokenID: eos)
        case (.gptj, .float64): return try GPTJModel<Double>(configuration: configuration, weights: weights, eosTokenID: eos)
        case (.gemma3, .float32): return try Gemma3Model<Float>(configuration: configuration, weights: weights, eosTokenID: eos)
        case (.gemma3, .float64): return try Gemma3Model<Double>(configuration: configuration, weights: weights, eosTokenID: eos)
        }
    }

    /// The configuration, canonical weights and end-of-sequence id of the checkpoint at `url`.
    /// - Throws: `ModelError`.
    public static func open(url: URL) throws -> (ModelConfiguration, any WeightSource, Int?) {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        do {
            if exists && !isDirectory.boolValue && url.pathExtension.lowercased() == "gguf" {
                let file = try GGUFFile(contentsOf: url)
                let configuration = try ModelConfiguration(gguf: file)
                let eos = file.value(forKey: "tokenizer.ggml.eos_token_id")?.integer
                return (configuration, GGUFWeights(file: file, configuration: configuration), eos)
            }
            let safetensorsURL: URL
            if exists && isDirectory.boolValue {
                safetensorsURL = url.appendingPathComponent("model.safetensors")
            } else if exists && url.pathExtension.lowercased() == "safetensors" {
                safetensorsURL = url
            } else {
                throw ModelError.unrecognizedModelPath(url.path)
            }
            let configURL = safetensorsURL.deletingLastPathComponent().appendingPathComponent("config.json")
            guard FileManager.default.fileExists(atPath: safetensorsURL.path),
                  let configData = FileManager.default.contents(atPath: configURL.path) else {
                throw ModelError.unrecognizedModelPath(url.path)
            }
            let config = try JSONDecoder().decode(HuggingFaceConfig.self, from: configData)
            let configuration = try ModelConfiguration(huggingFace: config, file: configURL.path)
            let file = try SafetensorsFile(contentsOf: safetensorsURL)
            return (configuration, SafetensorsWeights(file: file, configuration: configuration), config.eosTokenID)
        } catch let error as CheckpointError {
            throw ModelError.checkpoint(error.description)
        } catch let error as DecodingError {
            throw ModelError.invalidValue(file: "config.json", key: "(root)", reason: "\(error)")
        }
    }
}

// MARK: - Layout conversions

/// Rows of a (rows, cols) Q or K projection from llama.cpp's interleaved-pair order to
/// rotate-half order, head by head: row 2i + j of a head becomes row j·HS/2 + i.
func unpermuteRotaryRows(_ values: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
    let HS = rows / heads, half = HS / 2
    var out = [Float](repeating: 0, count: values.count)
    for h in 0..<heads {
        for i in 0..<half {
            for j in 0..<2 {
                let source = (h * HS + 2 * i + j) * cols
                let target = (h * HS + j * half + i) * cols
                for c in 0..<cols { out[target + c] = values[source + c] }
            }
        }
    }
    return out
}

/// Part `part` (0 q, 1 k, 2 v) of a fused (3·C, …) tensor.
func splitFused(_ tensor: WeightTensor, part: Int) -> WeightTensor {
    let rows = tensor.shape[0] / 3
    let cols = tensor.shape.count == 2 ? tensor.shape[1] : 1
    let values = Array(tensor.values[(part * rows * cols)..<((part + 1) * rows * cols)])
    return WeightTensor(shape: [rows] + tensor.shape.dropFirst(), values: values)
}

/// For a canonical `blk.N.attn_{q,k,v}.{weight,bias}` name, the fused tensor's name and the part.
func fusedSource(of name: String) -> (fused: String, part: Int)? {
    for (part, letter) in ["q", "k", "v"].enumerated() {
        for suffix in ["weight", "bias"] where name.hasSuffix(".attn_\(letter).\(suffix)") {
            let prefix = name.dropLast("attn_\(letter).\(suffix)".count)
            return (prefix + "attn_qkv.\(suffix)", part)
        }
    }
    return nil
}

struct GGUFWeights: WeightSource {
    let file: GGUFFile
    let configuration: ModelConfiguration

    /// Only llama.cpp's llama converter permutes Q/K rows to interleaved pairs; qwen2 and phi3
    /// files (NeoX RoPE) keep Hugging Face's rotate-half order, gptj files GPT-J's own layout.
    var storesInterleavedRotaryRows: Bool { Self.storesInterleavedRotaryRows(file) }

    static func storesInterleavedRotaryRows(_ file: GGUFFile) -> Bool {
        file.value(forKey: "general.architecture")?.string == "llama"
    }

    /// Whether the file is a Phi-3 one whose ffn_up holds the gate rows and then the up rows.
    private var fusesGateAndUp: Bool {
        configuration.family == .phi3 && file.tensor(named: "blk.0.ffn_gate.weight") == nil
    }

    /// The canonical names of the file's tensors (a fused Phi-3 ffn_up is ffn_gate_up).
    var canonicalNames: [String] {
        let fused = fusesGateAndUp
        return file.tensors.map { info in
            fused && info.name.hasSuffix(".ffn_up.weight") ? info.name.dropLast("ffn_up.weight".count) + "ffn_gate_up.weight" : info.name
        }
    }

    /// The file's name for a canonical tensor.
    private func storedName(_ name: String) -> String {
        guard fusesGateAndUp, name.hasSuffix(".ffn_gate_up.weight") else { return name }
        return name.dropLast("ffn_gate_up.weight".count) + "ffn_up.weight"
    }

    func tensor(named name: String) throws -> WeightTensor? {
        if configuration.architecture == .gpt2, file.tensor(named: name) == nil, let fused = fusedSource(of: name) {
            guard let whole = try tensor(named: fused.fused) else { return nil }
            return splitFused(whole, part: fused.part)
        }
        if configuration.family == .phi3, file.tensor(named: name) == nil || (fusesGateAndUp && name.hasSuffix(".ffn_up.weight")),
           let fused = phi3FusedSource(of: name, configuration: configuration) {
            guard let whole = try tensor(named: fused.fused) else { return nil }
            return try fusedRows(whole, rows: fused.rows, expectedRows: fused.fusedRows, name: storedName(fused.fused))
        }
        guard let info = file.tensor(named: storedName(name)) else { return nil }
        var tensor: WeightTensor
        do {
            tensor = WeightTensor(shape: info.shape, values: try file.floats(for: info))
        } catch let error as CheckpointError {
            throw ModelError.checkpoint(error.description)
        }
        if configuration.architecture == .llama && storesInterleavedRotaryRows {
            let heads = name.contains(".attn_q.") ? configuration.headCount
                : name.contains(".attn_k.") ? configuration.keyValueHeadCount : 0
            if heads > 0 {
                let rows = tensor.shape.first ?? 0
                let cols = tensor.shape.count == 2 ? tensor.shape[1] : 1
                guard rows % (2 * heads) == 0 else {
                    throw ModelError.tensorShape(name, expected: [heads * configuration.headDimension, configuration.hiddenSize], actual: tensor.shape)
                }
                tensor.values = unpermuteRotaryRows(tensor.values, rows: rows, cols: cols, heads: heads)
            }
        }
        return tensor
    }
}

struct SafetensorsWeights: WeightSource {
    let file: SafetensorsFile
    let configuration: ModelConfiguration
    /// Canonical name → name in the file.
    let names: [String: String]

    init(file: SafetensorsFile, configuration: ModelConfiguration) {
        self.file = file
        self.configuration = configuration
        var names: [String: String] = [:]
        for info in file.tensors {
            if let canonical = TensorNaming.canonicalName(huggingFace: info.name, architecture: configuration.architecture) {
                names[canonical] = info.name
            }
        }
        self.names = names
    }

    func tensor(named name: String) throws -> WeightTensor? {
        if configuration.architecture == .gpt2, names[name] == nil, let fused = fusedSource(of: name) {
            guard let whole = try tensor(named: fused.fused) else { return nil }
            return splitFused(whole, part: fused.part)
        }
        if configuration.family == .phi3, names[name] == nil, let fused = phi3FusedSource(of: name, configuration: configuration) {
            guard let whole = try tensor(named: fused.fused) else { return nil }
            return try fusedRows(whole, rows: fused.rows, expectedRows: fused.fusedRows, name: names[fused.fused] ?? fused.fused)
        }
        guard let stored = names[name], let info = file.tensor(named: stored) else { return nil }
        let values: [Float]
        do {
            values = try file.floats(for: info)
        } catch let error as CheckpointError {
            throw ModelError.checkpoint(error.description)
        }
        if configuration.architecture == .gpt2, TensorNaming.isConv1DWeight(huggingFace: stored), info.shape.count == 2 {
            let matrix = Matrix<Float>(rows: info.shape[0], cols: info.shape[1], values: values).transposed()
            return WeightTensor(shape: [info.shape[1], info.shape[0]], values: matrix.values)
        }
        if configuration.architecture == .gemma3, TensorNaming.isGemma3Norm(canonical: name) {
            // Hugging Face keeps Gemma's norm weights as w in (1 + w); internally they are the
            // factor itself, as in GGUF, whose converter adds the 1.
            return WeightTensor(shape: info.shape, values: values.map { 1 + $0 })
        }
        return WeightTensor(shape: info.shape, values: values)
    }
}
