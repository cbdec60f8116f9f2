// Export of low-rank deltas as a PEFT LoRA adapter folder (`adapter_config.json` +
// `adapter_model.safetensors`): per edited module lora_B = U (d_out × r) and lora_A = Vᵀ
// (r × d_in), alpha = r so PEFT's scaling alpha / r is 1 and B·A is exactly the delta. Modules
// are targeted by a regular expression naming exactly the edited ones. Only block matrices that
// map to one Hugging Face module can be adapters (not GPT-2's split q/k/v, not embeddings).
import Checkpoints
import Foundation
import Tensors

/// One tensor's change Δ = U Vᵀ, in the internal convention (out × in).
public struct LoRADelta: Sendable {
    /// Canonical tensor name, e.g. `blk.4.ffn_down.weight`.
    public var tensor: String
    /// d_out × r.
    public var u: Matrix<Float>
    /// d_in × r.
    public var v: Matrix<Float>

    public init(tensor: String, u: Matrix<Float>, v: Matrix<Float>) {
        self.tensor = tensor
        self.u = u
        self.v = v
    }
}

/// What `CheckpointExport.writeLoRA` wrote.
public struct LoRAExportReport: Sendable, Equatable {
    /// Hugging Face module name → rank, e.g. `model.layers.4.mlp.down_proj` → 3.
    public var ranks: [String: Int]
    /// The `target_modules` regular expression.
    public var targetModules: String
}

extension CheckpointExport {
    /// Writes `deltas` as a PEFT LoRA adapter folder at `folder` (replacing one already there).
    ///
    /// - Parameters:
    ///   - configuration: the base model's (architecture and shapes).
    ///   - baseModelName: recorded as `base_model_name_or_path`.
    ///   - precision: dtype of the factors (default F32: B·A equals the delta to rounding).
    /// - Throws: `ModelError.unsupportedFeature` for a tensor that is not one module's weight,
    ///   `.tensorShape` for factors whose shapes disagree, `.checkpoint` for write failures.
    @discardableResult
    public static func writeLoRA(deltas: [LoRADelta], configuration: ModelConfiguration, baseModelName: String,
                                 precision: ExportPrecision = .f32, to folder: URL,
                                 replacingForeignFiles: Bool = false) throws -> LoRAExportReport {
        let architecture = configuration.architecture
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        var ranks: [(String, Int)] = []
        do {
            for delta in deltas.sorted(by: { $0.tensor.localizedStandardCompare($1.tensor) == .orderedAscending }) {
                guard delta.tensor.hasPrefix("blk."), delta.tensor.hasSuffix(".weight"),
                      let hf = TensorNaming.huggingFaceName(canonical: delta.tensor, architecture: architecture) else {
                    throw ModelError.unsupportedFeature(file: folder.path, feature: "a LoRA adapter for '\(delta.tensor)' (block weight matrices with one Hugging Face module only)")
                }
                guard delta.u.cols == delta.v.cols else {
                    throw ModelError.tensorShape(delta.tensor + " V", expected: [delta.v.rows, delta.u.cols], actual: [delta.v.rows, delta.v.cols])
                }
                let rank = delta.u.cols
                if rank == 0 { continue }
                let module = (architecture == .gpt2 ? "transformer." : "") + String(hf.dropLast(".weight".count))
                let key = "base_model.model." + module
                // lora_A: r × d_in = Vᵀ; lora_B: d_out × r = U.
                try writer.addTensor(name: key + ".lora_A.weight", shape: [rank, delta.v.rows],
                                     floats: delta.v.transposed().values, dtype: precision.safetensorsDType)
                try writer.addTensor(name: key + ".lora_B.weight", shape: [delta.u.rows, rank],
                                     floats: delta.u.values, dtype: precision.safetensorsDType)
                ranks.append((module, rank))
            }
        } catch let error as CheckpointError {
            throw ModelError.checkpoint(error.description)
        }
        let escaped = ranks.map { NSRegularExpression.escapedPattern(for: $0.0) }
        let targetModules = ranks.isEmpty ? "^$" : "(" + escaped.joined(separator: "|") + ")"
        let typical = ranks.map(\.1).max() ?? 1
        // Every module's rank and alpha are listed, so the scaling is 1 whatever the default.
        let rankPattern: ExportJSON = .object(ranks.map { ($0.0, .integer($0.1)) })
        let config: ExportJSON = .object([
            ("alpha_pattern", rankPattern),
            ("auto_mapping", .null),
            ("base_model_name_or_path", .string(baseModelName)),
            ("bias", .string("none")),
            ("fan_in_fan_out", .bool(architecture == .gpt2)),
            ("inference_mode", .bool(true)),
            ("init_lora_weights", .bool(true)),
            ("layers_pattern", .null),
            ("layers_to_transform", .null),
            ("lora_alpha", .integer(typical)),
            ("lora_dropout", .float(0)),
            ("modules_to_save", .null),
            ("peft_type", .string("LORA")),
            ("r", .integer(typical)),
            ("rank_pattern", rankPattern),
            ("revision", .null),
            ("target_modules", .string(targetModules)),
            ("task_type", .string("CAUSAL_LM")),
            ("use_dora", .bool(false)),
            ("use_rslora", .bool(false)),
        ])
        try writeFolderAtomically(folder, replacingForeignFiles: replacingForeignFiles) { temporary in
            do {
                try writer.write(to: temporary.appendingPathComponent("adapter_model.safetensors"))
            } catch let error as CheckpointError {
                throw ModelError.checkpoint(error.description)
            }
            try write(config.rendered(), to: temporary.appendingPathComponent("adapter_config.json"))
        }
        return LoRAExportReport(ranks: Dictionary(uniqueKeysWithValues: ranks), targetModules: targetModules)
    }
}
