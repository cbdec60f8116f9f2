// Export to a Hugging Face folder that transformers' `from_pretrained` loads: `model.safetensors`
// with the architecture's own tensor names and layouts (GPT-2 Conv1D weights back to in × out,
// fused c_attn, no lm_head when tied), `config.json` written from the ModelConfiguration, and the
// tokenizer (copied from a Hugging Face source, generated from GGUF metadata otherwise).
// The folder appears atomically: it is written beside the destination and renamed into place.
import Checkpoints
import Foundation
import Tensors

/// What `CheckpointExport.writeHuggingFace` wrote.
public struct HuggingFaceExportReport: Sendable, Equatable {
    /// Tensor names in `model.safetensors`.
    public var tensorNames: [String]
    /// Source tensors left out: ones the runtime does not use, and a tied LM head.
    public var skippedTensors: [String]
    /// The dtype of every tensor written.
    public var precision: ExportPrecision
    /// Files written into the folder.
    public var files: [String]
}

extension CheckpointExport {
    /// Files copied from a Hugging Face source folder when present (tokenizer and generation settings).
    static let copiedHuggingFaceFiles = [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
        "vocab.json", "merges.txt", "generation_config.json",
    ]

    /// Writes the model at `source` (a .gguf file or a Hugging Face folder / .safetensors file),
    /// with `overrides` applied, as a Hugging Face folder at `folder`, replacing a previous export there (see `ExportFolder`).
    ///
    /// - Parameters:
    ///   - overrides: canonical name → new values in the internal convention (see `writeGGUF`).
    ///   - precision: dtype of all tensors; nil keeps a safetensors source's dtype when it has one,
    ///     else F32 (so a GGUF's dequantized values are written exactly).
    /// - Throws: `ModelError` for an unreadable source, an override naming no tensor or of the
    ///   wrong shape, a tokenizer that cannot be converted, or a file-system failure (`.checkpoint`).
    @discardableResult
    public static func writeHuggingFace(source: URL, overrides: [String: Matrix<Float>] = [:],
                                        precision: ExportPrecision? = nil, to folder: URL,
                                        replacingForeignFiles: Bool = false) throws -> HuggingFaceExportReport {
        let (configuration, weights, _) = try ModelLoader.open(url: source)
        if case .frequencyDivisors = configuration.ropeScaling {
            throw ModelError.unsupportedFeature(file: source.lastPathComponent,
                                                feature: "Hugging Face export of RoPE frequency divisors (rope_freqs.weight; config.json needs the llama3 parameters, which the GGUF file does not keep)")
        }
        let architecture = configuration.architecture
        let storedNames: [String]
        var skipped: [String] = []
        var sourceDType: ExportPrecision?
        var specialIDs: (bos: Int?, eos: Int?, pad: Int?)
        var ggufSource: GGUFFile?
        var sourceFolder: URL?
        if let gguf = weights as? GGUFWeights {
            storedNames = gguf.canonicalNames
            ggufSource = gguf.file
            specialIDs = (gguf.file.value(forKey: "tokenizer.ggml.bos_token_id")?.integer,
                          gguf.file.value(forKey: "tokenizer.ggml.eos_token_id")?.integer,
                          gguf.file.value(forKey: "tokenizer.ggml.padding_token_id")?.integer)
        } else if let safetensors = weights as? SafetensorsWeights {
            var names: [String] = []
            for info in safetensors.file.tensors {
                if let canonical = TensorNaming.canonicalName(huggingFace: info.name, architecture: architecture) {
                    names.append(canonical)
                } else {
                    skipped.append(info.name)
                }
            }
            storedNames = names
            let dtypes = Set(safetensors.file.tensors.map(\.dtype))
            if dtypes.count == 1, let only = dtypes.first {
                sourceDType = ExportPrecision.allCases.first { $0.safetensorsDType == only }
            }
            let folder = safetensors.file.url.deletingLastPathComponent()
            sourceFolder = folder
            specialIDs = try huggingFaceSpecialIDs(folder.appendingPathComponent("config.json"))
        } else {
            throw ModelError.unrecognizedModelPath(source.path)
        }
        let dtype = precision ?? sourceDType ?? .f32
        let stored = Set(storedNames)
        let replacements = try storedReplacements(overrides, architecture: architecture) { stored.contains($0) }

        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        var written: [String] = []
        do {
            for name in storedNames {
                guard let hf = TensorNaming.huggingFaceName(canonical: name, architecture: architecture) else {
                    skipped.append(name)
                    continue
                }
                if name == "output.weight" && configuration.tiedEmbeddings {
                    skipped.append(name)
                    continue
                }
                guard var tensor = try weights.tensor(named: name) else { throw ModelError.missingTensor(name) }
                if let parts = replacements[name] {
                    try apply(parts, to: &tensor.values, shape: tensor.shape, name: name)
                }
                if architecture == .gemma3, TensorNaming.isGemma3Norm(canonical: name) {
                    tensor.values = tensor.values.map { $0 - 1 }   // back to Hugging Face's w of (1 + w)
                }
                var fileName = hf
                if architecture == .gpt2 {
                    if hf != "lm_head.weight" { fileName = "transformer." + hf }
                    if TensorNaming.isConv1DWeight(huggingFace: hf), tensor.shape.count == 2 {
                        let rows = tensor.shape[0], cols = tensor.shape[1]
                        tensor = WeightTensor(shape: [cols, rows], values: Matrix(rows: rows, cols: cols, values: tensor.values).transposed().values)
                    }
                }
                try writer.addTensor(name: fileName, shape: tensor.shape, floats: tensor.values, dtype: dtype.safetensorsDType)
                written.append(fileName)
            }
        } catch let error as CheckpointError {
            throw ModelError.checkpoint(error.description)
        }

        var files = ["model.safetensors", "config.json"]
        try writeFolderAtomically(folder, replacingForeignFiles: replacingForeignFiles) { temporary in
            try writer.write(to: temporary.appendingPathComponent("model.safetensors"))
            let config = configJSON(configuration, dtype: dtype, bos: specialIDs.bos, eos: specialIDs.eos, pad: specialIDs.pad)
            try write(config.rendered(), to: temporary.appendingPathComponent("config.json"))
            if let sourceFolder {
                for name in copiedHuggingFaceFiles {
                    let from = sourceFolder.appendingPathComponent(name)
                    guard FileManager.default.fileExists(atPath: from.path) else { continue }
                    do {
                        try FileManager.default.copyItem(at: from, to: temporary.appendingPathComponent(name))
                    } catch {
                        throw ModelError.checkpoint("\(from.path): cannot copy: \(error.localizedDescription)")
                    }
                    files.append(name)
                }
            } else if let gguf = ggufSource {
                try write(tokenizerJSON(gguf: gguf), to: temporary.appendingPathComponent("tokenizer.json"))
                try write(tokenizerConfigJSON(gguf: gguf, contextLength: configuration.contextLength),
                          to: temporary.appendingPathComponent("tokenizer_config.json"))
                var generation: [(String, ExportJSON)] = []
                if let bos = specialIDs.bos { generation.append(("bos_token_id", .integer(bos))) }
                if let eos = specialIDs.eos { generation.append(("eos_token_id", .integer(eos))) }
                if let pad = specialIDs.pad { generation.append(("pad_token_id", .integer(pad))) }
                try write(ExportJSON.object(generation).rendered(), to: temporary.appendingPathComponent("generation_config.json"))
                files += ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]
            }
        }
        return HuggingFaceExportReport(tensorNames: written, skippedTensors: skipped, precision: dtype, files: files)
    }

    /// `config.json` for the configuration, as transformers writes it for the architecture.
    static func configJSON(_ c: ModelConfiguration, dtype: ExportPrecision, bos: Int?, eos: Int?, pad: Int?) -> ExportJSON {
        let torchDType: String
        switch dtype {
        case .f32: torchDType = "float32"
        case .f16: torchDType = "float16"
        case .bf16: torchDType = "bfloat16"
        }
        func id(_ value: Int?) -> ExportJSON { value.map { .integer($0) } ?? .null }
        switch c.architecture {
        case .gpt2:
            return .object([
                ("activation_function", .string("gelu_new")),
                ("architectures", .array([.string("GPT2LMHeadModel")])),
                ("attn_pdrop", .float(0)), ("bos_token_id", id(bos)), ("embd_pdrop", .float(0)), ("eos_token_id", id(eos)),
                ("layer_norm_epsilon", .float(c.normEpsilon)), ("model_type", .string("gpt2")),
                ("n_ctx", .integer(c.contextLength)), ("n_embd", .integer(c.hiddenSize)), ("n_head", .integer(c.headCount)),
                ("n_inner", .integer(c.intermediateSize)), ("n_layer", .integer(c.layerCount)),
                ("n_positions", .integer(c.contextLength)), ("pad_token_id", id(pad)), ("resid_pdrop", .float(0)),
                ("scale_attn_by_inverse_layer_idx", .bool(false)), ("scale_attn_weights", .bool(true)),
                ("tie_word_embeddings", .bool(c.tiedEmbeddings)), ("torch_dtype", .string(torchDType)),
                ("use_cache", .bool(true)), ("vocab_size", .integer(c.vocabularySize)),
            ])
        case .gemma3:
            return gemma3ConfigJSON(c, torchDType: torchDType, bos: id(bos), eos: id(eos), pad: id(pad))
        case .llama:
            let qwen = c.attentionBias
            let (className, modelType) = switch c.family {
            case .mistral: ("MistralForCausalLM", "mistral")
            case .phi3: ("Phi3ForCausalLM", "phi3")
            case nil: qwen ? ("Qwen2ForCausalLM", "qwen2") : ("LlamaForCausalLM", "llama")
            }
            var members: [(String, ExportJSON)] = [
                ("architectures", .array([.string(className)])),
            ]
            if !qwen { members.append(("attention_bias", .bool(false))) }
            members += [
                ("attention_dropout", .float(0)), ("bos_token_id", id(bos)), ("eos_token_id", id(eos)),
                ("head_dim", .integer(c.headDimension)), ("hidden_act", .string("silu")),
                ("hidden_size", .integer(c.hiddenSize)), ("intermediate_size", .integer(c.intermediateSize)),
                ("max_position_embeddings", .integer(c.contextLength)),
            ]
            if !qwen { members.append(("mlp_bias", .bool(false))) }
            var rope: [(String, ExportJSON)] = [("rope_theta", .float(c.ropeTheta)), ("rope_type", .string("default"))]
            if case let .llama3(scaling) = c.ropeScaling {
                rope = [
                    ("factor", .float(Float(scaling.factor))), ("high_freq_factor", .float(Float(scaling.highFrequencyFactor))),
                    ("low_freq_factor", .float(Float(scaling.lowFrequencyFactor))),
                    ("original_max_position_embeddings", .integer(scaling.originalContextLength)),
                    ("rope_theta", .float(c.ropeTheta)), ("rope_type", .string("llama3")),
                ]
            }
            members += [
                ("model_type", .string(modelType)),
                ("num_attention_heads", .integer(c.headCount)), ("num_hidden_layers", .integer(c.layerCount)),
                ("num_key_value_heads", .integer(c.keyValueHeadCount)), ("pad_token_id", id(pad)),
                ("rms_norm_eps", .float(c.normEpsilon)),
                ("rope_parameters", .object(rope)),
                ("rope_scaling", c.ropeScaling == nil ? .null : .object(rope)), ("rope_theta", .float(c.ropeTheta)),
            ]
            if c.family != nil { members.append(("sliding_window", c.slidingWindow.map { .integer($0) } ?? .null)) }
            members += [
                ("tie_word_embeddings", .bool(c.tiedEmbeddings)), ("torch_dtype", .string(torchDType)),
                ("use_cache", .bool(true)), ("vocab_size", .integer(c.vocabularySize)),
            ]
            return .object(members)
        case .gptj:
            return .object([
                ("activation_function", .string("gelu_new")),
                ("architectures", .array([.string("GPTJForCausalLM")])),
                ("attn_pdrop", .float(0)), ("bos_token_id", id(bos)), ("embd_pdrop", .float(0)), ("eos_token_id", id(eos)),
                ("layer_norm_epsilon", .float(c.normEpsilon)), ("model_type", .string("gptj")),
                ("n_embd", .integer(c.hiddenSize)), ("n_head", .integer(c.headCount)),
                ("n_inner", .integer(c.intermediateSize)), ("n_layer", .integer(c.layerCount)),
                ("n_positions", .integer(c.contextLength)), ("pad_token_id", id(pad)), ("resid_pdrop", .float(0)),
                ("rotary_dim", .integer(c.rotatedDimensions)),
                ("tie_word_embeddings", .bool(c.tiedEmbeddings)), ("torch_dtype", .string(torchDType)),
                ("use_cache", .bool(true)), ("vocab_size", .integer(c.vocabularySize)),
            ])
        }
    }

    /// `bos_token_id`, `eos_token_id` and `pad_token_id` of a Hugging Face config.json (the first
    /// of a list), nil when absent.
    static func huggingFaceSpecialIDs(_ url: URL) throws -> (bos: Int?, eos: Int?, pad: Int?) {
        guard let data = FileManager.default.contents(atPath: url.path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError.invalidValue(file: url.path, key: "(root)", reason: "not a JSON object")
        }
        func id(_ key: String) -> Int? {
            if let number = object[key] as? NSNumber { return number.intValue }
            if let list = object[key] as? [NSNumber] { return list.first?.intValue }
            return nil
        }
        return (id("bos_token_id"), id("eos_token_id"), id("pad_token_id"))
    }

    static func write(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url)
        } catch {
            throw ModelError.checkpoint("\(url.path): cannot write: \(error.localizedDescription)")
        }
    }

}
