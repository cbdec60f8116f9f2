// Export round trips: GGUF copies with replaced tensors, Hugging Face folders and LoRA adapters,
// re-read by mledit's own loaders (same logits as the source with the override applied) and by the
// reference Python packages (gguf, safetensors, numpy).
import Checkpoints
import Foundation
import Models
import Tensors
import Testing

@Suite("Checkpoint export")
struct CheckpointExportTests {
    static let sources = ["tiny-gpt2/model.gguf", "tiny-llama/model.gguf", "tiny-gpt2/model.safetensors", "tiny-llama/model.safetensors"]

    /// The source model, and the same model with layer 1's MLP output weight replaced.
    func editedModels(_ url: URL, seed: UInt64) throws -> (edited: any TransformerModel, override: Matrix<Float>) {
        let model = try ModelLoader.load(url: url)
        let override = ExportTestSupport.perturbed(model.mlpOutputWeight(layer: 1), seed: seed)
        model.setMLPOutputWeight(layer: 1, override)
        return (model, override)
    }

    @Test("GGUF export: the edited tensor merged, everything else byte for byte, same logits on reload",
          arguments: ["tiny-gpt2/model.gguf", "tiny-llama/model.gguf"])
    func ggufRoundTrip(_ relative: String) throws {
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let sourceURL = Fixtures.url(relative)
        let (edited, override) = try editedModels(sourceURL, seed: 11)
        let source = try GGUFFile(contentsOf: sourceURL)
        let out = directory.appendingPathComponent("out.gguf")
        let report = try CheckpointExport.writeGGUF(
            source: source, overrides: ["blk.1.ffn_down.weight": override], precision: .f32,
            extraMetadata: [GGUFMetadataEntry(key: "mledit.commit", value: .string("abc123"))], to: out)
        #expect(report.replacedTensors.map(\.name) == ["blk.1.ffn_down.weight"])
        #expect(report.copiedTensorCount == source.tensors.count - 1)

        let written = try GGUFFile(contentsOf: out)
        #expect(written.tensors.map(\.name) == source.tensors.map(\.name))
        for info in source.tensors where info.name != "blk.1.ffn_down.weight" {
            let copy = try #require(written.tensor(named: info.name))
            #expect(copy.type == info.type && copy.dimensions == info.dimensions)
            #expect(written.rawData(for: copy) == source.rawData(for: info), "\(info.name) changed")
        }
        for entry in source.metadata {
            #expect(written.value(forKey: entry.key) == entry.value, "metadata \(entry.key) changed")
        }
        #expect(written.value(forKey: "mledit.commit") == .string("abc123"))
        #expect(try written.floats(named: "blk.1.ffn_down.weight") == override.values)

        let reloaded = try ModelLoader.load(url: out)
        let prompt = ExportTestSupport.prompt(reloaded)
        let difference = ExportTestSupport.maxDifference(reloaded.logits(prompt: prompt), edited.logits(prompt: prompt))
        #expect(difference <= 1e-5, "largest logit difference \(difference)")
    }

    @Test("GGUF export in F16 stores the merged tensor rounded to half precision")
    func ggufHalfPrecision() throws {
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let sourceURL = Fixtures.url("tiny-llama/model.gguf")
        let (edited, override) = try editedModels(sourceURL, seed: 12)
        let out = directory.appendingPathComponent("half.gguf")
        try CheckpointExport.writeGGUF(source: GGUFFile(contentsOf: sourceURL), overrides: ["blk.1.ffn_down.weight": override], to: out)
        let written = try GGUFFile(contentsOf: out)
        let info = try #require(written.tensor(named: "blk.1.ffn_down.weight"))
        #expect(info.type == .f16)
        let expected = override.values.map { HalfPrecision.floatFromHalf(HalfPrecision.halfFromFloat($0)) }
        #expect(try written.floats(for: info) == expected)
        let reloaded = try ModelLoader.load(url: out)
        let prompt = ExportTestSupport.prompt(reloaded)
        let difference = ExportTestSupport.maxDifference(reloaded.logits(prompt: prompt), edited.logits(prompt: prompt))
        #expect(difference <= 1e-2, "largest logit difference \(difference)")
    }

    @Test("Llama Q/K overrides go back to llama.cpp's interleaved order; GPT-2 q/k/v into the fused tensor")
    func attentionLayouts() throws {
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        for (relative, names) in [("tiny-llama/model.gguf", ["blk.0.attn_q.weight", "blk.1.attn_k.weight"]),
                                  ("tiny-gpt2/model.gguf", ["blk.0.attn_k.weight", "blk.1.attn_v.bias"])] {
            let sourceURL = Fixtures.url(relative)
            let (_, weights, _) = try ModelLoader.open(url: sourceURL)
            var overrides: [String: Matrix<Float>] = [:]
            for (i, name) in names.enumerated() {
                let tensor = try #require(try weights.tensor(named: name))
                let rows = tensor.shape[0], cols = tensor.shape.count == 2 ? tensor.shape[1] : 1
                overrides[name] = ExportTestSupport.perturbed(Matrix(rows: rows, cols: cols, values: tensor.values), seed: UInt64(20 + i))
            }
            for (format, out) in [("gguf", directory.appendingPathComponent("attn.gguf")), ("hf", directory.appendingPathComponent("attn-hf"))] {
                if format == "gguf" {
                    try CheckpointExport.writeGGUF(source: GGUFFile(contentsOf: sourceURL), overrides: overrides, precision: .f32, to: out)
                } else {
                    try CheckpointExport.writeHuggingFace(source: sourceURL, overrides: overrides, to: out)
                }
                let (_, reread, _) = try ModelLoader.open(url: out)
                for (name, matrix) in overrides {
                    #expect(try reread.tensor(named: name)?.values == matrix.values, "\(relative) → \(format): \(name)")
                }
                for name in ["blk.0.attn_v.weight", "blk.0.attn_q.weight", "blk.1.attn_q.bias"] where overrides[name] == nil {
                    #expect(try reread.tensor(named: name)?.values == weights.tensor(named: name)?.values, "\(relative) → \(format): \(name) changed")
                }
            }
        }
    }

    @Test("An override of a tensor the source lacks, or of the wrong shape, is refused")
    func badOverrides() throws {
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let source = try GGUFFile(contentsOf: Fixtures.url("tiny-llama/model.gguf"))
        let out = directory.appendingPathComponent("bad.gguf")
        #expect(throws: ModelError.missingTensor("blk.9.ffn_down.weight")) {
            try CheckpointExport.writeGGUF(source: source, overrides: ["blk.9.ffn_down.weight": Matrix(rows: 64, cols: 128)], to: out)
        }
        #expect(throws: ModelError.tensorShape("blk.1.ffn_down.weight", expected: [64, 128], actual: [128, 64])) {
            try CheckpointExport.writeGGUF(source: source, overrides: ["blk.1.ffn_down.weight": Matrix(rows: 128, cols: 64)], to: out)
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty, "temporary files left behind")
    }

    @Test("Re-quantizing the edited tensor stores ggml's blocks and measures what survives of the edit")
    func requantization() throws {
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let sourceURL = Fixtures.url("tiny-llama/model.gguf")
        let source = try GGUFFile(contentsOf: sourceURL)
        let base = try source.floats(named: "blk.1.ffn_down.weight")
        let (_, override) = try editedModels(sourceURL, seed: 13)
        for type in [GGMLType.q8_0, .q4_0, .q4_1] {
            let out = directory.appendingPathComponent("\(type.name).gguf")
            let report = try CheckpointExport.writeGGUF(source: source, overrides: ["blk.1.ffn_down.weight": override], requantize: type, to: out)
            let effect = try #require(report.replacedTensors.first?.requantization)
            let written = try GGUFFile(contentsOf: out)
            let info = try #require(written.tensor(named: "blk.1.ffn_down.weight"))
            #expect(info.type == type)
            var expected = Data(count: try #require(type.byteCount(elementCount: override.values.count)))
            expected.withUnsafeMutableBytes { out in
                override.values.withUnsafeBufferPointer { _ = Quantization.quantize(type, $0, into: out) }
            }
            #expect(written.rawData(for: info) == expected)
            // Recompute the three measures from the file in Float64.
            let restored = try written.floats(for: info)
            var err = 0.0, norm = 0.0, delta = 0.0, inner = 0.0
            for i in 0..<restored.count {
                let q = Double(restored[i]), w = Double(override.values[i]), b = Double(base[i])
                err += (q - w) * (q - w); norm += w * w; delta += (w - b) * (w - b); inner += (q - b) * (w - b)
            }
            #expect(abs(effect.relativeError - (err / norm).squareRoot()) < 1e-9)
            #expect(abs(effect.deltaRetained - inner / delta) < 1e-9)
            #expect(abs(effect.deltaNorm - delta.squareRoot()) < 1e-6 * delta.squareRoot())
            #expect(effect.relativeError > 0 && effect.relativeError < (type == .q8_0 ? 0.01 : 0.2), "\(type.name): \(effect)")
            #expect(effect.deltaRetained > 0.8 && effect.deltaRetained < 1.2, "\(type.name): \(effect)")
        }
        #expect(throws: ModelError.self) {
            try CheckpointExport.writeGGUF(source: source, overrides: ["blk.1.ffn_down.weight": override], requantize: .q6_K,
                                           to: directory.appendingPathComponent("q6.gguf"))
        }
    }

    @Test("Hugging Face export: the model reloads with the same logits as the source with the override",
          arguments: sources)
    func huggingFaceRoundTrip(_ relative: String) throws {
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let sourceURL = Fixtures.url(relative)
        let (edited, override) = try editedModels(sourceURL, seed: 14)
        let out = directory.appendingPathComponent("hf")
        let report = try CheckpointExport.writeHuggingFace(source: sourceURL, overrides: ["blk.1.ffn_down.weight": override], to: out)
        #expect(report.precision == .f32)
        let reloaded = try ModelLoader.load(url: out)
        #expect(reloaded.configuration == edited.configuration)
        #expect(reloaded.mlpOutputWeight(layer: 1) == override)
        let prompt = ExportTestSupport.prompt(reloaded)
        let difference = ExportTestSupport.maxDifference(reloaded.logits(prompt: prompt), edited.logits(prompt: prompt))
        #expect(difference <= 1e-5, "largest logit difference \(difference)")

        let gpt2 = relative.hasPrefix("tiny-gpt2")
        let names = Set(report.tensorNames)
        if gpt2 {
            #expect(names.contains("transformer.h.1.mlp.c_proj.weight") && names.contains("transformer.h.0.attn.c_attn.weight"))
            // lm_head only when the source has its own (the GGUF does; the safetensors file is tied).
            #expect(names.contains("lm_head.weight") == !edited.configuration.tiedEmbeddings)
            #expect(relative.hasSuffix(".gguf") || edited.configuration.tiedEmbeddings)
        } else {
            #expect(names.contains("model.layers.1.mlp.down_proj.weight") && names.contains("lm_head.weight"))
        }
        for file in ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "\(file) missing")
        }
        // Same tokenizer as the fixture's tokenizer.json.
        let tokenizer = try Tokenizer(tokenizerJSON: out.appendingPathComponent("tokenizer.json"))
        let reference = try Tokenizer(tokenizerJSON: Fixtures.url(gpt2 ? "tiny-gpt2/tokenizer.json" : "tiny-llama/tokenizer.json"))
        for text in ["The capital of France is Paris.", "  x  12 345\n\nnew <|endoftext|> line", "café naïve 日本"] {
            #expect(tokenizer.encode(text) == reference.encode(text), "\(text.debugDescription)")
        }

        // The reference readers agree: shapes in Hugging Face layout, the override in place.
        let expected = directory.appendingPathComponent("expected.f32")
        try ExportTestSupport.writeFloats(override.values, to: expected)
        try ExportTestSupport.python("""
            import sys, json, numpy as np
            from safetensors import safe_open
            folder, expected, gpt2 = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
            config = json.load(open(folder + "/config.json"))
            f = safe_open(folder + "/model.safetensors", "np")
            assert f.metadata() == {"format": "pt"}, f.metadata()
            want = np.fromfile(expected, "<f4")
            if gpt2:
                assert config["model_type"] == "gpt2" and config["architectures"] == ["GPT2LMHeadModel"], config
                w = f.get_tensor("transformer.h.1.mlp.c_proj.weight")
                d, ff = config["n_embd"], config["n_inner"]
                assert w.shape == (ff, d), w.shape          # Conv1D: in x out
                assert np.array_equal(w.T.reshape(-1), want)
                assert f.get_tensor("transformer.h.0.attn.c_attn.weight").shape == (d, 3 * d)
            else:
                assert config["model_type"] == "llama" and config["tie_word_embeddings"] is False, config
                w = f.get_tensor("model.layers.1.mlp.down_proj.weight")
                assert w.shape == (config["hidden_size"], config["intermediate_size"]), w.shape
                assert np.array_equal(w.reshape(-1), want)
                assert config["num_key_value_heads"] == 2 and config["head_dim"] == 16
            assert config["torch_dtype"] == "float32" and config["eos_token_id"] == 0
            """, [out.path, expected.path, gpt2 ? "1" : "0"])
    }

    @Test("The gguf package reads the exported GGUF: metadata kept and added, edited tensor as written")
    func ggufReadByPython() throws {
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let sourceURL = Fixtures.url("tiny-gpt2/model.gguf")
        let (_, override) = try editedModels(sourceURL, seed: 15)
        let out = directory.appendingPathComponent("out.gguf")
        try CheckpointExport.writeGGUF(source: GGUFFile(contentsOf: sourceURL), overrides: ["blk.1.ffn_down.weight": override],
                                       precision: .f32, extraMetadata: [
                                           GGUFMetadataEntry(key: "mledit.commit", value: .string("c0ffee")),
                                           GGUFMetadataEntry(key: "mledit.base_sha256", value: .string("ab" + String(repeating: "0", count: 62))),
                                       ], to: out)
        let expected = directory.appendingPathComponent("expected.f32")
        try ExportTestSupport.writeFloats(override.values, to: expected)
        try ExportTestSupport.python("""
            import sys, numpy as np, gguf
            source, out, expected = gguf.GGUFReader(sys.argv[1]), gguf.GGUFReader(sys.argv[2]), sys.argv[3]
            assert out.fields["mledit.commit"].contents() == "c0ffee"
            assert out.fields["mledit.base_sha256"].contents().startswith("ab")
            for key, field in source.fields.items():
                if not key.startswith("GGUF."):
                    assert out.fields[key].contents() == field.contents(), key
            src = {t.name: t for t in source.tensors}
            for t in out.tensors:
                s = src[t.name]
                assert list(t.shape) == list(s.shape), t.name
                if t.name == "blk.1.ffn_down.weight":
                    assert t.tensor_type == gguf.GGMLQuantizationType.F32
                    assert np.array_equal(np.asarray(t.data).reshape(-1), np.fromfile(expected, "<f4"))
                else:
                    assert t.tensor_type == s.tensor_type and np.array_equal(np.asarray(t.data), np.asarray(s.data)), t.name
            assert len(out.tensors) == len(source.tensors)
            """, [sourceURL.path, out.path, expected.path])
    }

    @Test("LoRA adapter: B·A is the delta, rank and alpha per module, only the edited modules targeted",
          arguments: ["tiny-gpt2/model.gguf", "tiny-llama/model.gguf"])
    func loraAdapter(_ relative: String) throws {
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let (configuration, _, _) = try ModelLoader.open(url: Fixtures.url(relative))
        var generator = SeededGenerator(seed: 16)
        func random(_ rows: Int, _ cols: Int) -> Matrix<Float> {
            Matrix(rows: rows, cols: cols, values: (0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &generator) })
        }
        let d = configuration.hiddenSize, ff = configuration.intermediateSize
        let deltas = [LoRADelta(tensor: "blk.1.ffn_down.weight", u: random(d, 3), v: random(ff, 3)),
                      LoRADelta(tensor: "blk.0.ffn_down.weight", u: random(d, 1), v: random(ff, 1))]
        let out = directory.appendingPathComponent("adapter")
        let report = try CheckpointExport.writeLoRA(deltas: deltas, configuration: configuration, baseModelName: "tiny", to: out)
        let gpt2 = configuration.architecture == .gpt2
        let module = { (layer: Int) in gpt2 ? "transformer.h.\(layer).mlp.c_proj" : "model.layers.\(layer).mlp.down_proj" }
        #expect(report.ranks == [module(0): 1, module(1): 3])
        for (i, delta) in deltas.enumerated() {
            try ExportTestSupport.writeFloats(delta.u.multiplied(by: delta.v, transposeOther: true).values,
                                              to: directory.appendingPathComponent("delta\(i).f32"))
        }
        try ExportTestSupport.python("""
            import sys, json, re, numpy as np
            from safetensors import safe_open
            folder, scratch, gpt2 = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
            config = json.load(open(folder + "/adapter_config.json"))
            f = safe_open(folder + "/adapter_model.safetensors", "np")
            mlp = (lambda n: f"transformer.h.{n}.mlp.c_proj") if gpt2 else (lambda n: f"model.layers.{n}.mlp.down_proj")
            attn = (lambda n: f"transformer.h.{n}.attn.c_proj") if gpt2 else (lambda n: f"model.layers.{n}.self_attn.o_proj")
            assert config["peft_type"] == "LORA" and config["fan_in_fan_out"] == gpt2, config
            for layer, rank, index in [(1, 3, 0), (0, 1, 1)]:
                module = mlp(layer)
                a = f.get_tensor(f"base_model.model.{module}.lora_A.weight")
                b = f.get_tensor(f"base_model.model.{module}.lora_B.weight")
                assert a.shape[0] == rank and b.shape[1] == rank, (a.shape, b.shape)
                assert config["rank_pattern"][module] == rank and config["alpha_pattern"][module] == rank
                want = np.fromfile(f"{scratch}/delta{index}.f32", "<f4").reshape(b.shape[0], a.shape[1])
                got = b.astype(np.float64) @ a.astype(np.float64)
                assert np.max(np.abs(got - want)) < 1e-5 * max(1.0, np.max(np.abs(want))), np.max(np.abs(got - want))
                assert re.fullmatch(config["target_modules"], module)
                assert not re.fullmatch(config["target_modules"], attn(layer))
            assert not re.fullmatch(config["target_modules"], mlp(11))
            assert len(list(f.keys())) == 4
            """, [out.path, directory.path, gpt2 ? "1" : "0"])
        #expect(throws: ModelError.self) {
            try CheckpointExport.writeLoRA(deltas: [LoRADelta(tensor: "token_embd.weight", u: random(4, 1), v: random(d, 1))],
                                           configuration: configuration, baseModelName: "tiny", to: directory.appendingPathComponent("bad"))
        }
    }

    @Test("A previous export is replaced whole; a folder with other files is refused, or with replacingForeignFiles keeps them")
    func folderReplacement() throws {
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let out = directory.appendingPathComponent("hf")
        let source = Fixtures.url("tiny-llama/model.gguf")
        try CheckpointExport.writeHuggingFace(source: source, precision: .f32, to: out)
        #expect(ExportFolder.state(of: out) == .previousExport)
        try CheckpointExport.writeHuggingFace(source: source, precision: .bf16, to: out)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["hf"])
        let file = try SafetensorsFile(contentsOf: out.appendingPathComponent("model.safetensors"))
        #expect(file.tensors.allSatisfy { $0.dtype == .bf16 })
        _ = try ModelLoader.load(url: out)

        try Data("mine".utf8).write(to: out.appendingPathComponent("notes.txt"))
        #expect(ExportFolder.state(of: out) == .foreign(["notes.txt"]))
        #expect(throws: ModelError.self) { try CheckpointExport.writeHuggingFace(source: source, precision: .f32, to: out) }
        #expect(try SafetensorsFile(contentsOf: out.appendingPathComponent("model.safetensors")).tensors.allSatisfy { $0.dtype == .bf16 })
        try CheckpointExport.writeHuggingFace(source: source, precision: .f32, to: out, replacingForeignFiles: true)
        #expect(try String(contentsOf: out.appendingPathComponent("notes.txt"), encoding: .utf8) == "mine")
        #expect(try SafetensorsFile(contentsOf: out.appendingPathComponent("model.safetensors")).tensors.allSatisfy { $0.dtype == .f32 })
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["hf"])
    }
}
