// Tests of the GGUF reader and writer: the FORMATS.md golden file, byte-exact rewrites of
// reference files, every metadata type, and reading our output with the gguf package from PyPI.

import Foundation
import Testing
@testable import Checkpoints

@Suite("GGUF reader and writer")
struct GGUFFileTests {
    @Test("reads the FORMATS.md golden file")
    func readsGolden() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("golden.gguf")
        try TestSupport.write(GGUFGolden.bytes, to: url)
        #expect(GGUFGolden.bytes.count == 192)

        let file = try GGUFFile(contentsOf: url)
        #expect(file.version == 3)
        #expect(file.alignment == 32)
        #expect(file.dataOffset == 160)
        #expect(file.metadata.map(\.key) == ["general.architecture", "llama.block_count"])
        #expect(file.value(forKey: "general.architecture") == .string("llama"))
        #expect(file.value(forKey: "llama.block_count") == .uint32(1))
        #expect(file.value(forKey: "llama.block_count")?.integer == 1)
        #expect(file.value(forKey: "missing") == nil)
        let tensor = try #require(file.tensor(named: "token_embd.weight"))
        #expect(tensor.dimensions == [3, 2])
        #expect(tensor.shape == [2, 3])
        #expect(tensor.type == .f32)
        #expect(tensor.offset == 0)
        #expect(tensor.byteCount == 24)
        #expect(tensor.elementCount == 6)
        #expect(try file.floats(named: "token_embd.weight") == [0, 1, 2, 3, 4, 5])
        let raw = file.rawData(for: tensor)
        #expect(Array(raw) == Array(GGUFGolden.bytes[160 ..< 184]))
        #expect(TestSupport.checkpointError { _ = try file.floats(named: "output.weight") }
            == .tensorNotFound(file: url.path, tensor: "output.weight"))
    }

    @Test("writer reproduces the golden file byte for byte")
    func writesGolden() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var writer = GGUFWriter()
        writer.addMetadata("general.architecture", .string("llama"))
        writer.addMetadata("llama.block_count", .uint32(1))
        try writer.addTensor(name: "token_embd.weight", shape: [2, 3], floats: [0, 1, 2, 3, 4, 5], type: .f32)
        let url = directory.appendingPathComponent("out.gguf")
        try writer.write(to: url)
        let written = try [UInt8](Data(contentsOf: url))
        #expect(TestSupport.hex(written) == TestSupport.hex(GGUFGolden.bytes))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(leftovers == ["out.gguf"], "the temporary file must be renamed into place")
    }

    @Test("version 2 is read like version 3")
    func versionTwo() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var bytes = GGUFGolden.bytes
        bytes[GGUFGolden.versionOffset] = 2
        let url = directory.appendingPathComponent("v2.gguf")
        try TestSupport.write(bytes, to: url)
        let file = try GGUFFile(contentsOf: url)
        #expect(file.version == 2)
        #expect(try file.floats(named: "token_embd.weight") == [0, 1, 2, 3, 4, 5])
    }

    static let everyType: [(String, GGUFValue)] = [
        ("t.uint8", .uint8(250)), ("t.int8", .int8(-7)), ("t.uint16", .uint16(65000)), ("t.int16", .int16(-300)),
        ("t.uint32", .uint32(4_000_000_000)), ("t.int32", .int32(-123_456)), ("t.float32", .float32(1e-5)),
        ("t.bool_true", .bool(true)), ("t.bool_false", .bool(false)), ("t.string", .string("héllo ✓ 𝄞")),
        ("t.empty_string", .string("")),
        ("t.uint64", .uint64(UInt64.max)), ("t.int64", .int64(Int64.min)), ("t.float64", .float64(-2.5e300)),
        ("t.strings", .array(.string, [.string("a"), .string(""), .string("Ġthe")])),
        ("t.floats", .array(.float32, [.float32(0.5), .float32(-1)])),
        ("t.empty_array", .array(.int32, [])),
        ("t.nested", .array(.array, [.array(.uint8, [.uint8(1), .uint8(2)]), .array(.uint8, [])])),
        ("t.bools", .array(.bool, [.bool(true), .bool(false)])),
    ]

    @Test("every metadata type, F16 and quantized tensors and a custom alignment round-trip")
    func roundTrip() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var writer = GGUFWriter(alignment: 64)
        for (key, value) in Self.everyType { writer.addMetadata(key, value) }
        let values = (0 ..< 96).map { Float($0 - 40) / 8 }
        try writer.addTensor(name: "a.f32", shape: [3, 32], floats: values, type: .f32)
        try writer.addTensor(name: "b.f16", shape: [96], floats: values, type: .f16)
        var q8 = Data(count: 3 * 34)
        q8.withUnsafeMutableBytes { out in values.withUnsafeBufferPointer { _ = Quantization.quantize(.q8_0, $0, into: out) } }
        try writer.addRawTensor(name: "c.q8_0", dimensions: [32, 3], type: .q8_0, data: q8)
        try writer.addTensor(name: "d.scalar", shape: [], floats: [7], type: .f32)
        let url = directory.appendingPathComponent("all.gguf")
        try writer.write(to: url)

        let file = try GGUFFile(contentsOf: url)
        #expect(file.alignment == 64)
        #expect(file.dataOffset % 64 == 0)
        #expect(file.metadata.first?.key == "general.alignment")
        for (key, value) in Self.everyType {
            #expect(file.value(forKey: key) == value, "key \(key)")
        }
        #expect(file.value(forKey: "t.strings")?.strings == ["a", "", "Ġthe"])
        #expect(file.value(forKey: "t.int64")?.integer == Int(Int64.min))
        #expect(file.value(forKey: "t.uint64")?.integer == nil)
        #expect(file.value(forKey: "t.float32")?.double == Double(Float(1e-5)))
        #expect(file.value(forKey: "t.uint16")?.double == 65000)
        #expect(file.tensors.map(\.name) == ["a.f32", "b.f16", "c.q8_0", "d.scalar"])
        #expect(file.tensors.allSatisfy { $0.offset % 64 == 0 })
        #expect(try file.floats(named: "a.f32") == values)
        #expect(try file.floats(named: "b.f16") == values, "multiples of 1/8 are exact in F16")
        let q8Back = try file.floats(named: "c.q8_0")
        #expect(TestSupport.maxDifference(q8Back, values) <= 6.875 / 127 * (0.5 + 128.0 / 2048))
        #expect(try file.floats(named: "d.scalar") == [7])
        #expect(file.tensor(named: "c.q8_0")?.shape == [3, 32])
        #expect(Array(file.rawData(for: try #require(file.tensor(named: "c.q8_0")))) == Array(q8))
    }

    @Test("the writers reject what they cannot write and leave an existing file untouched")
    func writerErrors() throws {
        func message(_ body: () throws -> Void) -> String { TestSupport.checkpointError(body)?.description ?? "(no error)" }
        var writer = GGUFWriter()
        try writer.addTensor(name: "a", shape: [2], floats: [1, 2], type: .f32)
        #expect(message { try writer.addTensor(name: "a", shape: [2], floats: [1, 2], type: .f32) }.contains("duplicate tensor name 'a'"))
        #expect(message { try writer.addTensor(name: "b", shape: [32], floats: Array(repeating: 0, count: 32), type: .q8_0) }.contains("F32 or F16 only"))
        #expect(message { try writer.addTensor(name: "b", shape: [2, 2], floats: [1, 2, 3], type: .f32) }.contains("does not match 3 values"))
        #expect(message { try writer.addRawTensor(name: "b", dimensions: [32], type: .q4_1, data: Data(count: 18)) }.contains("18 bytes given, Q4_1 [32] needs 20"))
        #expect(message { try writer.addRawTensor(name: "b", dimensions: [16], type: .q4_1, data: Data(count: 10)) }.contains("whole Q4_1 blocks"))
        #expect(message { try writer.addRawTensor(name: String(repeating: "n", count: 64), dimensions: [1], type: .f32, data: Data(count: 4)) }.contains("shorter than 64"))
        #expect(message { try writer.addRawTensor(name: "b", dimensions: [1, 1, 1, 1, 1], type: .f32, data: Data(count: 4)) }.contains("5 dimensions"))

        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("keep.gguf")
        try writer.write(to: url)
        let before = try Data(contentsOf: url)
        try writer.write(to: url)  // overwriting through the rename works
        #expect(try Data(contentsOf: url) == before)
        writer.addMetadata("bad.array", .array(.uint32, [.uint32(1), .int32(2)]))
        #expect(message { try writer.write(to: url) }.contains("key 'bad.array': array of UINT32 holds a INT32 element"))
        #expect(try Data(contentsOf: url) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["keep.gguf"])
        #expect(message { try GGUFWriter().write(to: directory.appendingPathComponent("no/such/dir.gguf")) }.contains("cannot create temporary file"))

        var safetensors = SafetensorsWriter()
        try safetensors.addTensor(name: "a", shape: [1], floats: [1], dtype: .bf16)
        #expect(message { try safetensors.addTensor(name: "a", shape: [1], floats: [1], dtype: .f32) }.contains("already used"))
        #expect(message { try safetensors.addTensor(name: "__metadata__", shape: [1], floats: [1], dtype: .f32) }.contains("reserved"))
        #expect(message { try safetensors.addTensor(name: "i", shape: [1], floats: [1], dtype: .i32) }.contains("F32, F16 or BF16 only"))
        #expect(message { try safetensors.addTensor(name: "s", shape: [2], floats: [1], dtype: .f32) }.contains("does not match 1 values"))
    }

    @Test("copying a gguf-py file tensor by tensor reproduces it byte for byte", arguments: ["tiny-gpt2", "tiny-llama"])
    func copyReproduces(model: String) throws {
        let source = TestSupport.fixtures.appendingPathComponent(model).appendingPathComponent("model.gguf")
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try GGUFFile(contentsOf: source)
        let copy = directory.appendingPathComponent("copy.gguf")
        try Self.copy(file, to: copy)
        let original = try Data(contentsOf: source)
        let written = try Data(contentsOf: copy)
        #expect(written.count == original.count)
        #expect(written == original)
    }

    static func copy(_ file: GGUFFile, to url: URL) throws {
        var writer = GGUFWriter(alignment: file.alignment)
        for entry in file.metadata { writer.addMetadata(entry.key, entry.value) }
        for tensor in file.tensors {
            try writer.addRawTensor(name: tensor.name, dimensions: tensor.dimensions, type: tensor.type, data: file.rawData(for: tensor))
        }
        try writer.write(to: url)
    }

    @Test("rewriting F32 tensors as F16 keeps metadata and rounds values to nearest half")
    func convertToHalf() throws {
        let source = TestSupport.fixtures.appendingPathComponent("tiny-llama/model.gguf")
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try GGUFFile(contentsOf: source)
        var writer = GGUFWriter()
        for entry in file.metadata { writer.addMetadata(entry.key, entry.value) }
        for tensor in file.tensors {
            try writer.addTensor(name: tensor.name, shape: tensor.shape, floats: try file.floats(for: tensor), type: .f16)
        }
        let url = directory.appendingPathComponent("half.gguf")
        try writer.write(to: url)
        let half = try GGUFFile(contentsOf: url)
        #expect(half.metadata == file.metadata)
        #expect(half.tensors.map(\.name) == file.tensors.map(\.name))
        var worst: Float = 0
        for tensor in file.tensors {
            let original = try file.floats(for: tensor)
            let converted = try half.floats(named: tensor.name)
            let expected = original.map { HalfPrecisionReference.roundTrip($0) }
            #expect(converted == expected, "tensor \(tensor.name)")
            worst = max(worst, TestSupport.maxDifference(original, converted))
        }
        #expect(worst < 1e-2, "largest |F32 - F16| was \(worst)")
    }

    @Test("the gguf package from PyPI reads what we write, with equal metadata and values")
    func pythonReadsOurFile() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var writer = GGUFWriter()
        writer.addMetadata("general.architecture", .string("llama"))
        writer.addMetadata("general.quantization_version", .uint32(2))
        writer.addMetadata("llama.block_count", .uint32(2))
        writer.addMetadata("llama.rope.freq_base", .float32(100000))
        writer.addMetadata("t.int64", .int64(-5))
        writer.addMetadata("t.bool", .bool(true))
        writer.addMetadata("tokenizer.ggml.tokens", .array(.string, [.string("<s>"), .string("Ġthe"), .string("é")]))
        writer.addMetadata("tokenizer.ggml.scores", .array(.float32, [.float32(0), .float32(-1.5), .float32(2.25)]))
        let values = (0 ..< 128).map { Float(sin(Double($0) * 0.37)) }
        try writer.addTensor(name: "a.weight", shape: [4, 32], floats: values, type: .f32)
        try writer.addTensor(name: "b.weight", shape: [2, 64], floats: values, type: .f16)
        for type in [GGMLType.q8_0, .q4_0, .q4_1] {
            var data = Data(count: 4 * type.typeSize)
            data.withUnsafeMutableBytes { out in values.withUnsafeBufferPointer { _ = Quantization.quantize(type, $0, into: out) } }
            try writer.addRawTensor(name: "q.\(type.name)", dimensions: [32, 4], type: type, data: data)
        }
        let url = directory.appendingPathComponent("ours.gguf")
        try writer.write(to: url)

        let script = """
        import sys, json
        import numpy as np
        from gguf import GGUFReader
        from gguf.quants import dequantize
        r = GGUFReader(sys.argv[1])
        fields = {}
        for name, field in r.fields.items():
            if name.startswith("GGUF."):
                continue
            value = field.contents()
            if isinstance(value, float):
                value = float(np.float32(value))
            fields[name] = value
        tensors = {}
        for t in r.tensors:
            values = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
            tensors[t.name] = {"type": t.tensor_type.name, "dims": [int(d) for d in t.shape],
                               "offset": int(t.data_offset), "values": [float(v) for v in values]}
        print(json.dumps({"fields": fields, "tensors": tensors}))
        """
        let output = try TestSupport.runPython(script, [url.path])
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let fields = try #require(parsed["fields"] as? [String: Any])
        #expect(fields["general.architecture"] as? String == "llama")
        #expect((fields["llama.block_count"] as? NSNumber)?.intValue == 2)
        #expect((fields["llama.rope.freq_base"] as? NSNumber)?.doubleValue == 100000)
        #expect((fields["t.int64"] as? NSNumber)?.intValue == -5)
        #expect((fields["t.bool"] as? NSNumber)?.boolValue == true)
        #expect(fields["tokenizer.ggml.tokens"] as? [String] == ["<s>", "Ġthe", "é"])
        #expect((fields["tokenizer.ggml.scores"] as? [NSNumber])?.map(\.doubleValue) == [0, -1.5, 2.25])

        let ours = try GGUFFile(contentsOf: url)
        let tensors = try #require(parsed["tensors"] as? [String: [String: Any]])
        #expect(tensors.count == ours.tensors.count)
        for tensor in ours.tensors {
            let theirs = try #require(tensors[tensor.name], "python did not see \(tensor.name)")
            #expect(theirs["type"] as? String == tensor.type.name)
            #expect(theirs["dims"] as? [Int] == tensor.dimensions)
            #expect((theirs["offset"] as? Int) == ours.dataOffset + tensor.offset)
            let pythonValues = try #require(theirs["values"] as? [Double]).map(Float.init)
            let swiftValues = try ours.floats(for: tensor)
            #expect(swiftValues == pythonValues, "\(tensor.name): largest difference \(TestSupport.maxDifference(swiftValues, pythonValues))")
        }
    }
}

/// Float -> F16 -> Float through the shared codec, used to predict F16 output exactly.
enum HalfPrecisionReference {
    static func roundTrip(_ x: Float) -> Float {
        Float(Float16(x))
    }
}
