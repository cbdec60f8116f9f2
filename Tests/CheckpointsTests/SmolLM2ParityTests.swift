// Parity of the GGUF reader with gguf-py on the default model (SmolLM2-135M-Instruct Q4_1):
// header, every metadata entry and every one of the 272 tensors (placement, first/last/sampled
// values bit-exact, norms and sums within float64 accumulation tolerance) against
// Tests/Fixtures/smollm2/tensors.json; and a byte-exact copy of the whole file by the writer.

import Foundation
import Testing
@testable import Checkpoints

@Suite("SmolLM2 GGUF parity", .serialized)
struct SmolLM2ParityTests {
    static func loadModel() throws -> GGUFFile {
        let url = TestSupport.modelURL
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("default model missing at \(url.path) (run `make test`, or set MLEDIT_MODEL)")
            throw CheckpointError.io(file: url.path, reason: "missing")
        }
        return try GGUFFile(contentsOf: url)
    }

    static func reference() throws -> [String: Any] {
        let url = TestSupport.fixtures.appendingPathComponent("smollm2/tensors.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        return try #require(object as? [String: Any])
    }

    @Test("header and every metadata entry match gguf-py")
    func metadata() throws {
        let file = try Self.loadModel()
        let reference = try Self.reference()
        #expect(Int(file.version) == reference["gguf_version"] as? Int)
        #expect(file.alignment == reference["alignment"] as? Int)
        #expect(file.dataOffset == reference["data_offset"] as? Int)
        #expect(file.tensors.count == reference["tensor_count"] as? Int)
        let entries = try #require(reference["metadata"] as? [String: [String: Any]])
        #expect(file.metadata.count == entries.count)
        for entry in file.metadata {
            let expected = try #require(entries[entry.key], "unexpected key \(entry.key)")
            let types = try #require(expected["type"] as? [String])
            #expect(types.first == entry.value.type.name, "\(entry.key)")
            if case let .array(elementType, elements) = entry.value {
                #expect(types.dropFirst().first == elementType.name, "\(entry.key)")
                #expect(expected["count"] as? Int == elements.count, "\(entry.key)")
                let first = try #require(expected["first"] as? [Any])
                let last = try #require(expected["last"] as? [Any])
                for (value, reference) in zip(elements.prefix(first.count), first) { Self.expectEqual(value, reference, entry.key) }
                for (value, reference) in zip(elements.suffix(last.count), last) { Self.expectEqual(value, reference, entry.key) }
            } else {
                Self.expectEqual(entry.value, expected["value"] as Any, entry.key)
            }
        }
        #expect(file.value(forKey: "tokenizer.ggml.tokens")?.strings?.count == 49152)
        #expect(file.value(forKey: "tokenizer.ggml.merges")?.strings?.count == 48900)
    }

    static func expectEqual(_ value: GGUFValue, _ reference: Any, _ key: String) {
        switch value {
        case let .string(s): #expect(s == reference as? String, "\(key)")
        case let .bool(b): #expect(b == (reference as? Bool), "\(key)")
        case .float32, .float64: #expect(value.double == (reference as? NSNumber)?.doubleValue, "\(key)")
        default: #expect(value.integer == (reference as? NSNumber)?.intValue, "\(key)")
        }
    }

    @Test("all 272 tensors load and match the reference dequantizer")
    func tensors() throws {
        let file = try Self.loadModel()
        let reference = try Self.reference()
        let tensors = try #require(reference["tensors"] as? [[String: Any]])
        #expect(file.tensors.map(\.name) == tensors.compactMap { $0["name"] as? String })
        var worstNorm = 0.0, worstSum = 0.0
        var typeCounts: [String: Int] = [:]
        for (tensor, expected) in zip(file.tensors, tensors) {
            let name = tensor.name
            #expect(tensor.type.name == expected["ggml_type"] as? String, "\(name)")
            #expect(Int(tensor.type.rawValue) == expected["ggml_type_id"] as? Int, "\(name)")
            #expect(tensor.dimensions == expected["gguf_dims"] as? [Int], "\(name)")
            #expect(tensor.shape == expected["numpy_shape"] as? [Int], "\(name)")
            #expect(tensor.elementCount == expected["n_elements"] as? Int, "\(name)")
            #expect(tensor.byteCount == expected["n_bytes"] as? Int, "\(name)")
            #expect(tensor.offset == expected["offset_in_data"] as? Int, "\(name)")
            #expect(file.dataOffset + tensor.offset == expected["file_offset"] as? Int, "\(name)")
            typeCounts[tensor.type.name, default: 0] += 1

            let values = try file.floats(for: tensor)
            #expect(values.count == tensor.elementCount)
            let first8 = try #require(expected["first8"] as? [Double]).map(Float.init)
            let last8 = try #require(expected["last8"] as? [Double]).map(Float.init)
            #expect(Array(values.prefix(8)) == first8, "\(name) first values")
            #expect(Array(values.suffix(8)) == last8, "\(name) last values")
            let samples = try #require(expected["samples"] as? [String: [Any]])
            let indices = try #require(samples["flat_indices"] as? [Int])
            let sampleValues = try #require(samples["values"] as? [Double]).map(Float.init)
            #expect(indices.map { values[$0] } == sampleValues, "\(name) sampled values")

            // Blocked float64 sums (like NumPy's pairwise ones) keep the rounding error near n^½·ε.
            var sumSquares = 0.0, sum = 0.0, sumAbs = 0.0
            values.withUnsafeBufferPointer { buffer in
                var start = 0
                while start < buffer.count {
                    let end = min(buffer.count, start + 4096)
                    var blockSquares = 0.0, blockSum = 0.0, blockAbs = 0.0
                    for i in start ..< end {
                        let x = Double(buffer[i])
                        blockSquares += x * x
                        blockSum += x
                        blockAbs += abs(x)
                    }
                    sumSquares += blockSquares
                    sum += blockSum
                    sumAbs += blockAbs
                    start = end
                }
            }
            let norm = sumSquares.squareRoot()
            let expectedNorm = try #require(expected["fro_norm"] as? Double)
            let expectedSum = try #require(expected["sum"] as? Double)
            let expectedSumAbs = try #require(expected["sum_abs"] as? Double)
            // Float64 sums of float32 values in another order differ by rounding only:
            // blocked sums put that near 1e-15 relative; 1e-12 leaves room and still catches any wrong value.
            let normError = abs(norm - expectedNorm) / max(expectedNorm, 1e-30)
            let sumError = abs(sum - expectedSum) / max(expectedSumAbs, 1e-30)
            worstNorm = max(worstNorm, normError)
            worstSum = max(worstSum, sumError)
            #expect(normError < 1e-12, "\(name): Frobenius norm \(norm) vs \(expectedNorm)")
            #expect(sumError < 1e-12, "\(name): sum \(sum) vs \(expectedSum)")
            #expect(abs(sumAbs - expectedSumAbs) / max(expectedSumAbs, 1e-30) < 1e-12, "\(name): sum |x|")
        }
        #expect(typeCounts == ["Q8_0": 1, "Q4_1": 210, "F32": 61])
        print("SmolLM2 parity: largest relative norm difference \(worstNorm), largest relative sum difference \(worstSum)")
    }

    @Test("copying every tensor byte for byte with all metadata reproduces the model file")
    func byteExactCopy() throws {
        let file = try Self.loadModel()
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("copy.gguf")
        try GGUFFileTests.copy(file, to: copy)
        let original = try Data(contentsOf: file.url, options: .alwaysMapped)
        let written = try Data(contentsOf: copy, options: .alwaysMapped)
        #expect(written.count == original.count)
        #expect(written == original)
        let reread = try GGUFFile(contentsOf: copy)
        #expect(reread.metadata == file.metadata)
        #expect(reread.tensors == file.tensors)
    }
}
