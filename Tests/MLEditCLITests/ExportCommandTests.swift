// `mledit export` in-process: a repository on the tiny Llama GGUF with two commits of low-rank
// deltas, exported as GGUF, Hugging Face folder and LoRA adapter, each checked against
// base + Σ U Vᵀ computed here in Float64; `--model` conversion outside a repository; refusals
// (corrupted delta blob, missing output, outside a repository).
import Checkpoints
import Foundation
import Ledger
import Models
import Tensors
import Testing
@testable import MLEditCLI

@Suite("mledit export")
struct ExportCommandTests {
    /// A repository in `directory` on a copy of tiny-llama's GGUF with two commits on main:
    /// rank 2 on blk.1.ffn_down, then rank 1 on blk.1.ffn_down and blk.0.ffn_down.
    struct Fixture {
        var directory: URL
        var base: URL
        var digest: String
        var commits: [String]
        /// Tensor → the commits' (U, V), oldest first.
        var deltas: [String: [(u: Matrix<Double>, v: Matrix<Double>)]]

        /// base + Σ U Vᵀ of `tensor` over the first `count` commits, in Float64.
        func expected(_ tensor: String, commits count: Int) throws -> [Double] {
            let (_, weights, _) = try ModelLoader.open(url: base)
            let original = try #require(try weights.tensor(named: tensor))
            let cols = original.shape[1]
            var values = original.values.map(Double.init)
            let applicable = Array((deltas[tensor] ?? []).prefix(tensor == "blk.0.ffn_down.weight" ? max(0, count - 1) : count))
            for (u, v) in applicable {
                for r in 0..<u.rows {
                    for c in 0..<v.rows {
                        var sum = 0.0
                        for k in 0..<u.cols { sum += u[r, k] * v[c, k] }
                        values[r * cols + c] += sum
                    }
                }
            }
            return values
        }
    }

    static func makeFixture() throws -> Fixture {
        let directory = try CLIHarness.temporaryDirectory()
        let base = directory.appendingPathComponent("base.gguf")
        try FileManager.default.copyItem(at: CLIHarness.fixtures.appendingPathComponent("tiny-llama/model.gguf"), to: base)
        let digest = try SHA256.hash(fileAt: base).hex
        let repository = try Repository.create(at: directory, baseModel: BaseModelDraft(
            path: base.path, sha256: digest, format: "gguf", architecture: "llama", configuration: .object([:])))
        let baseID = try #require(try repository.baseModels().first?.id)
        var generator = SeededGenerator(seed: 7)
        func random(_ rows: Int, _ cols: Int) -> Matrix<Double> {
            Matrix(rows: rows, cols: cols, values: (0..<(rows * cols)).map { _ in Double(Float.random(in: -0.3...0.3, using: &generator)) })
        }
        var deltas: [String: [(u: Matrix<Double>, v: Matrix<Double>)]] = [:]
        var commits: [String] = []
        var parent: String?
        for (i, plan) in [[("blk.1.ffn_down.weight", 1, 2)], [("blk.1.ffn_down.weight", 1, 1), ("blk.0.ffn_down.weight", 0, 1)]].enumerated() {
            var inputs: [DeltaInput] = []
            for (tensor, layer, rank) in plan {
                let u = random(64, rank), v = random(128, rank)
                deltas[tensor, default: []].append((u, v))
                inputs.append(DeltaInput(tensor: tensor, layer: layer, u: u, v: v, precision: .f32))
            }
            let fact = Fact(subject: "Subject \(i)", prompt: "{} is located in", targetNew: "City \(i)")
            let record = try repository.writeCommit(CommitDraft(parentID: parent, baseModelID: baseID, method: "memit",
                                                                facts: [fact], deltas: inputs, message: "edit \(i)", author: "tester"))
            commits.append(record.id)
            parent = record.id
        }
        return Fixture(directory: directory, base: base, digest: digest, commits: commits, deltas: deltas)
    }

    static func maxDifference(_ a: [Float], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
    }

    @Test("GGUF export of HEAD and of HEAD~1: merged tensors, version metadata, copies of the rest")
    func ggufExport() throws {
        let fixture = try Self.makeFixture()
        defer { CLIHarness.cleanUp(fixture.directory) }
        let result = CLIHarness.run(["export", "-o", "head.gguf", "--dtype", "f32"], in: fixture.directory)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("2 edited"), "\(result.stdout)")
        let file = try GGUFFile(contentsOf: fixture.directory.appendingPathComponent("head.gguf"))
        #expect(file.value(forKey: "mledit.commit") == .string(fixture.commits[1]))
        #expect(file.value(forKey: "mledit.base_sha256") == .string(fixture.digest))
        #expect(file.value(forKey: "mledit.edited_tensors")?.strings == ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"])
        for tensor in ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"] {
            let difference = Self.maxDifference(try file.floats(named: tensor), try fixture.expected(tensor, commits: 2))
            #expect(difference < 1e-5, "\(tensor): largest difference \(difference)")
        }
        let base = try GGUFFile(contentsOf: fixture.base)
        #expect(file.rawData(for: try #require(file.tensor(named: "blk.1.ffn_up.weight")))
                == base.rawData(for: try #require(base.tensor(named: "blk.1.ffn_up.weight"))))

        let older = CLIHarness.run(["export", "-o", "older.gguf", "--at", "HEAD~1", "--json"], in: fixture.directory)
        #expect(older.status == 0, "\(older.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(older.stdout.utf8)) as? [String: Any])
        #expect(summary["version"] as? String == fixture.commits[0])
        let olderFile = try GGUFFile(contentsOf: fixture.directory.appendingPathComponent("older.gguf"))
        #expect(olderFile.value(forKey: "mledit.commit") == .string(fixture.commits[0]))
        #expect(olderFile.tensor(named: "blk.1.ffn_down.weight")?.type == .f16)
        #expect(olderFile.tensor(named: "blk.0.ffn_down.weight")?.type == .f32, "blk.0 is not edited at HEAD~1")
        let difference = Self.maxDifference(try olderFile.floats(named: "blk.1.ffn_down.weight"), try fixture.expected("blk.1.ffn_down.weight", commits: 1))
        #expect(difference < 2e-3, "f16 rounding only: largest difference \(difference)")
    }

    @Test("--requantize warns with the measured error and what survives of the edit")
    func requantizeWarning() throws {
        let fixture = try Self.makeFixture()
        defer { CLIHarness.cleanUp(fixture.directory) }
        let result = CLIHarness.run(["export", "-o", "q.gguf", "--requantize", "q8_0"], in: fixture.directory)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("warning: blk.1.ffn_down.weight re-quantized to Q8_0: relative error"), "\(result.stderr)")
        #expect(result.stderr.contains("of the edit survives"))
        let file = try GGUFFile(contentsOf: fixture.directory.appendingPathComponent("q.gguf"))
        #expect(file.tensor(named: "blk.1.ffn_down.weight")?.type == .q8_0)
        let bad = CLIHarness.run(["export", "-o", "q.gguf", "--requantize", "q6_k"], in: fixture.directory)
        #expect(bad.status == 64)
    }

    @Test("Hugging Face export of HEAD loads with the merged MLP weights")
    func huggingFaceExport() throws {
        let fixture = try Self.makeFixture()
        defer { CLIHarness.cleanUp(fixture.directory) }
        let result = CLIHarness.run(["export", "-o", "hf", "--format", "safetensors"], in: fixture.directory)
        #expect(result.status == 0, "\(result.stderr)")
        let model = try ModelLoader.load(url: fixture.directory.appendingPathComponent("hf"))
        for layer in [0, 1] {
            let tensor = "blk.\(layer).ffn_down.weight"
            let difference = Self.maxDifference(model.mlpOutputWeight(layer: layer).values, try fixture.expected(tensor, commits: 2))
            #expect(difference < 1e-5, "\(tensor): largest difference \(difference)")
        }
        _ = try Tokenizer(tokenizerJSON: fixture.directory.appendingPathComponent("hf/tokenizer.json"))
    }

    @Test("LoRA export: per tensor the lineage's factors stacked, B·A = Σ U Vᵀ")
    func loraExport() throws {
        let fixture = try Self.makeFixture()
        defer { CLIHarness.cleanUp(fixture.directory) }
        let result = CLIHarness.run(["export", "-o", "adapter", "--format", "lora"], in: fixture.directory)
        #expect(result.status == 0, "\(result.stderr)")
        let folder = fixture.directory.appendingPathComponent("adapter")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("adapter_config.json"))) as? [String: Any])
        let ranks = try #require(config["rank_pattern"] as? [String: Int])
        #expect(ranks == ["model.layers.1.mlp.down_proj": 3, "model.layers.0.mlp.down_proj": 1])
        #expect(config["base_model_name_or_path"] as? String == fixture.base.path)
        let file = try SafetensorsFile(contentsOf: folder.appendingPathComponent("adapter_model.safetensors"))
        let (_, weights, _) = try ModelLoader.open(url: fixture.base)
        for layer in [0, 1] {
            let prefix = "base_model.model.model.layers.\(layer).mlp.down_proj."
            let a = try #require(file.tensor(named: prefix + "lora_A.weight"))
            let b = try #require(file.tensor(named: prefix + "lora_B.weight"))
            let rank = ranks["model.layers.\(layer).mlp.down_proj"] ?? 0
            #expect(a.shape == [rank, 128] && b.shape == [64, rank])
            let product = Matrix(rows: 64, cols: rank, values: try file.floats(for: b))
                .multiplied(by: Matrix(rows: rank, cols: 128, values: try file.floats(for: a)))
            let original = try #require(try weights.tensor(named: "blk.\(layer).ffn_down.weight"))
            let expected = zip(try fixture.expected("blk.\(layer).ffn_down.weight", commits: 2), original.values).map { $0 - Double($1) }
            let difference = Self.maxDifference(product.values, expected)
            #expect(difference < 1e-5, "layer \(layer): largest difference \(difference)")
        }
    }

    @Test("A corrupted delta blob stops the export with the tensor named and nothing written")
    func corruptedDelta() throws {
        let fixture = try Self.makeFixture()
        defer { CLIHarness.cleanUp(fixture.directory) }
        let repository = try Repository.open(at: fixture.directory)
        // Tamper the way only someone bypassing mledit could: drop the guard, rewrite a blob.
        try repository.database.execute("DROP TRIGGER deltas_are_immutable")
        try repository.database.execute("UPDATE deltas SET u_blob = ?1 WHERE commit_id = ?2 AND tensor = 'blk.1.ffn_down.weight'",
                                        [.blob([1, 2, 3, 4]), .text(fixture.commits[0])])
        for format in ["gguf", "safetensors", "lora"] {
            let result = CLIHarness.run(["export", "-o", "out-\(format)", "--format", format], in: fixture.directory)
            #expect(result.status == 1)
            #expect(result.stderr.hasPrefix("Error: the delta of blk.1.ffn_down.weight in commit \(fixture.commits[0].prefix(12))"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("out-\(format)").path))
        }
    }

    @Test("Outside a repository: --model converts a checkpoint as it is; without it, a clear error")
    func outsideRepository() throws {
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let source = CLIHarness.fixtures.appendingPathComponent("tiny-gpt2/model.gguf")
        let result = CLIHarness.run(["export", "--model", source.path, "-o", "hf", "--format", "safetensors"], in: directory)
        #expect(result.status == 0, "\(result.stderr)")
        let converted = try ModelLoader.load(url: directory.appendingPathComponent("hf"))
        let original = try ModelLoader.load(url: source)
        let prompt = [1, 5, 9, 200, 13]
        let difference = zip(converted.logits(prompt: prompt).values, original.logits(prompt: prompt).values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(difference <= 1e-5, "largest logit difference \(difference)")

        let noRepository = CLIHarness.run(["export", "-o", "x.gguf"], in: directory)
        #expect(noRepository.status == 1)
        #expect(noRepository.stderr.contains("not an mledit repository"), "\(noRepository.stderr)")
        #expect(CLIHarness.run(["export"], in: directory).status == 64)
        #expect(CLIHarness.run(["export", "-o", "x", "--format", "onnx"], in: directory).status == 64)
        let lora = CLIHarness.run(["export", "--model", source.path, "-o", "adapter", "--format", "lora"], in: directory)
        #expect(lora.status == 1 && lora.stderr.contains("LoRA"), "\(lora.stderr)")
        let onto = CLIHarness.run(["export", "--model", source.path, "-o", source.path], in: directory)
        #expect(onto.status == 1 && onto.stderr.contains("is a model checkpoint mledit reads"), "\(onto.stderr)")
    }
}
