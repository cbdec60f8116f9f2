// Tests of the safetensors reader and writer: the FORMATS.md golden file (read, and written byte
// for byte), the tiny fixtures' model.safetensors against their GGUF twins, reading our output
// with the safetensors package from PyPI, and broken files.

import Foundation
import Testing
@testable import Checkpoints

@Suite("safetensors reader and writer")
struct SafetensorsTests {
    static let goldenHeader = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F16","shape":[2],"data_offsets":[12,16]}}"# + "   "
    static var golden: [UInt8] {
        TestSupport.le(UInt64(144)) + Array(goldenHeader.utf8) + TestSupport.bytes(hex: "00000000 0000803f 00000040 003c 0040")
    }

    static func withFile<T>(_ bytes: [UInt8], name: String = "x.safetensors", _ body: (URL) throws -> T) throws -> T {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent(name)
        try TestSupport.write(bytes, to: url)
        return try body(url)
    }

    @Test("reads the FORMATS.md golden file")
    func readsGolden() throws {
        #expect(Self.goldenHeader.utf8.count == 144)
        #expect(Self.golden.count == 168)
        try Self.withFile(Self.golden) { url in
            let file = try SafetensorsFile(contentsOf: url)
            #expect(file.metadata == ["format": "pt"])
            #expect(file.tensors.map(\.name) == ["a", "b"])
            let a = try #require(file.tensor(named: "a"))
            #expect(a.dtype == .f32 && a.shape == [3] && a.dataRange == 0 ..< 12)
            #expect(try file.floats(for: a) == [0, 1, 2])
            #expect(try file.floats(named: "b") == [1, 2])
            #expect(Array(file.rawData(for: try #require(file.tensor(named: "b")))) == [0x00, 0x3c, 0x00, 0x40])
            #expect(TestSupport.checkpointError { _ = try file.floats(named: "c") } == .tensorNotFound(file: url.path, tensor: "c"))
        }
    }

    @Test("writer reproduces the golden file byte for byte")
    func writesGolden() throws {
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        try writer.addTensor(name: "b", shape: [2], floats: [1, 2], dtype: .f16)
        try writer.addTensor(name: "a", shape: [3], floats: [0, 1, 2], dtype: .f32)
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("out.safetensors")
        try writer.write(to: url)
        let written = try [UInt8](Data(contentsOf: url))
        #expect(TestSupport.hex(written) == TestSupport.hex(Self.golden))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["out.safetensors"])
    }

    @Test("the tiny fixtures' model.safetensors load and agree with their GGUF twins",
          arguments: [("tiny-gpt2", "transformer.wte.weight", "token_embd.weight"),
                      ("tiny-llama", "model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight"),
                      ("tiny-facts-gpt2", "transformer.wpe.weight", "position_embd.weight")])
    func fixtures(model: String, safetensorsName: String, ggufName: String) throws {
        let directory = TestSupport.fixtures.appendingPathComponent(model)
        let file = try SafetensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors"))
        #expect(file.tensors.count > 10)
        var previousEnd = 0
        for tensor in file.tensors {
            #expect(tensor.dataRange.lowerBound == previousEnd)
            previousEnd = tensor.dataRange.upperBound
            let values = try file.floats(for: tensor)
            #expect(values.count == tensor.elementCount)
            #expect(values.allSatisfy { $0.isFinite }, "\(tensor.name)")
        }
        let gguf = try GGUFFile(contentsOf: directory.appendingPathComponent("model.gguf"))
        let a = try #require(file.tensor(named: safetensorsName))
        let b = try #require(gguf.tensor(named: ggufName))
        #expect(a.shape == b.shape)
        #expect(try file.floats(for: a) == gguf.floats(for: b))
    }

    @Test("a written file round-trips, and F16/BF16 round to nearest even")
    func roundTrip() throws {
        let values: [Float] = [0, 1, -2.5, 3.1415926, 1e-8, 65504, -0.1, 100_000.5]
        var writer = SafetensorsWriter(metadata: ["format": "pt", "note": "quote \" and\nnewline ✓"])
        try writer.addTensor(name: "w.f32", shape: [2, 4], floats: values, dtype: .f32)
        try writer.addTensor(name: "w.f16", shape: [8], floats: values, dtype: .f16)
        try writer.addTensor(name: "w.bf16", shape: [4, 2], floats: values, dtype: .bf16)
        try writer.addTensor(name: "scalar", shape: [], floats: [42], dtype: .f32)
        try writer.addTensor(name: "empty", shape: [0, 3], floats: [], dtype: .f32)
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("rt.safetensors")
        try writer.write(to: url)
        let file = try SafetensorsFile(contentsOf: url)
        #expect(file.metadata == ["format": "pt", "note": "quote \" and\nnewline ✓"])
        #expect(try file.floats(named: "w.f32") == values)
        #expect(try file.floats(named: "w.f16") == values.map { Float(Float16($0)) })
        #expect(try file.floats(named: "w.bf16") == values.map { Float(bitPattern: Self.bfloat16Reference($0) << 16) })
        #expect(try file.floats(named: "scalar") == [42])
        #expect(try file.floats(named: "empty") == [])
        #expect(file.tensor(named: "scalar")?.shape == [])
        let headerSize = try Data(contentsOf: url).prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(headerSize % 8 == 0)
    }

    /// bfloat16 by exact rational rounding (independent of the bit trick under test).
    static func bfloat16Reference(_ x: Float) -> UInt32 {
        let bits = x.bitPattern
        let truncated = bits & 0xFFFF_0000
        let down = Float(bitPattern: truncated), up = Float(bitPattern: truncated + 0x1_0000)
        let dDown = abs(Double(x) - Double(down)), dUp = abs(Double(up) - Double(x))
        let chosen = dDown < dUp ? truncated : dUp < dDown ? truncated + 0x1_0000 : ((truncated >> 16) & 1 == 0 ? truncated : truncated + 0x1_0000)
        return chosen >> 16
    }

    @Test("the safetensors package from PyPI reads what we write, with equal values")
    func pythonReadsOurFile() throws {
        let values = (0 ..< 24).map { Float(cos(Double($0) * 0.61)) * 3 }
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        try writer.addTensor(name: "layer.weight", shape: [4, 6], floats: values, dtype: .f32)
        try writer.addTensor(name: "layer.half", shape: [2, 3, 4], floats: values, dtype: .f16)
        try writer.addTensor(name: "layer.brain", shape: [24], floats: values, dtype: .bf16)
        try writer.addTensor(name: "scalar", shape: [], floats: [-1.25], dtype: .f32)
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("ours.safetensors")
        try writer.write(to: url)
        let script = """
        import sys, json
        import numpy as np
        from safetensors import deserialize, safe_open
        from safetensors.numpy import load_file
        path = sys.argv[1]
        out = {}
        with safe_open(path, framework="np") as f:
            out["__metadata__"] = f.metadata()
        data = open(path, "rb").read()
        for name, info in deserialize(data):
            raw = bytes(info["data"])
            if info["dtype"] == "BF16":
                values = (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).view("<f4")
                out[name] = {"dtype": "BF16", "shape": list(info["shape"]), "values": [float(v) for v in values]}
        numpy_path = sys.argv[2]
        for name, array in load_file(numpy_path).items():
            out[name] = {"dtype": str(array.dtype), "shape": list(array.shape), "values": [float(v) for v in array.astype(np.float32).reshape(-1)]}
        print(json.dumps(out))
        """
        // safetensors.numpy has no bfloat16, so the BF16 tensor goes in a second file read by the low-level API.
        var numpyWriter = SafetensorsWriter(metadata: ["format": "pt"])
        try numpyWriter.addTensor(name: "layer.weight", shape: [4, 6], floats: values, dtype: .f32)
        try numpyWriter.addTensor(name: "layer.half", shape: [2, 3, 4], floats: values, dtype: .f16)
        try numpyWriter.addTensor(name: "scalar", shape: [], floats: [-1.25], dtype: .f32)
        let numpyURL = directory.appendingPathComponent("numpy.safetensors")
        try numpyWriter.write(to: numpyURL)

        let output = try TestSupport.runPython(script, [url.path, numpyURL.path])
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(parsed["__metadata__"] as? [String: String] == ["format": "pt"])
        let ours = try SafetensorsFile(contentsOf: numpyURL)
        let bf16File = try SafetensorsFile(contentsOf: url)
        for (name, file, dtype) in [("layer.weight", ours, "float32"), ("layer.half", ours, "float16"), ("scalar", ours, "float32"), ("layer.brain", bf16File, "BF16")] {
            let entry = try #require(parsed[name] as? [String: Any], "python did not return \(name)")
            let tensor = try #require(file.tensor(named: name))
            #expect(entry["dtype"] as? String == dtype)
            #expect(entry["shape"] as? [Int] == tensor.shape)
            let theirs = try #require(entry["values"] as? [Double]).map(Float.init)
            let mine = try file.floats(for: tensor)
            #expect(mine == theirs, "\(name): largest difference \(TestSupport.maxDifference(mine, theirs))")
        }
    }
}
