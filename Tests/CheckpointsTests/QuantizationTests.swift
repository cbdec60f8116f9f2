// Block (de)quantization: the golden blocks of FORMATS.md C.3, F16/BF16 byte patterns, and the
// Q4_K / Q6_K kernels against gguf-py's reference dequantizer on random blocks.

import Foundation
import Testing
@testable import Checkpoints
import Tensors

@Suite("Quantization kernels")
struct QuantizationTests {
    /// x[i] = (i - 16) / 4, the FORMATS.md golden input.
    static let goldenInput: [Float] = (0 ..< 32).map { Float($0 - 16) / 4 }

    static func quantized(_ type: GGMLType, _ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count / type.blockSize * type.typeSize)
        out.withUnsafeMutableBytes { dst in values.withUnsafeBufferPointer { #expect(Quantization.quantize(type, $0, into: dst)) } }
        return out
    }

    static func dequantized(_ type: GGMLType, _ bytes: [UInt8]) -> [Float] {
        let count = bytes.count / type.typeSize * type.blockSize
        var out = [Float](repeating: .nan, count: count)
        out.withUnsafeMutableBufferPointer { dst in bytes.withUnsafeBytes { #expect(Dequantization.dequantize(type, $0, into: dst)) } }
        return out
    }

    @Test("Q8_0 golden block")
    func q8_0() {
        let golden = TestSupport.bytes(hex: "0828 81 89 91 99 a1 a9 b1 b9 c0 c8 d0 d8 e0 e8 f0 f8 00 08 10 18 20 28 30 38 40 47 4f 57 5f 67 6f 77")
        #expect(TestSupport.hex(Self.quantized(.q8_0, Self.goldenInput)) == TestSupport.hex(golden))
        let y = Self.dequantized(.q8_0, golden)
        let d: Float = 0.031494140625
        #expect(y[0] == -127 * d)
        #expect(y == golden[2...].map { Float(Int8(bitPattern: $0)) * d })
        #expect(TestSupport.maxDifference(y, Self.goldenInput) <= d / 2)
    }

    @Test("Q4_0 golden block")
    func q4_0() {
        let golden = TestSupport.bytes(hex: "0038 80 91 91 a2 a2 b3 b3 c4 c4 d5 d5 e6 e6 f7 f7 f8")
        #expect(TestSupport.hex(Self.quantized(.q4_0, Self.goldenInput)) == TestSupport.hex(golden))
        let y = Self.dequantized(.q4_0, golden)
        #expect(Array(y[0 ..< 4]) == [-4.0, -3.5, -3.5, -3.0])
        #expect(y[16] == 0)
        #expect(TestSupport.maxDifference(y, Self.goldenInput) <= 0.25)
    }

    @Test("Q4_1 golden block")
    func q4_1() {
        let golden = TestSupport.bytes(hex: "2238 00c4 80 80 91 91 a2 a2 b3 b3 c4 c4 d5 d5 e6 e6 f7 f7")
        #expect(TestSupport.hex(Self.quantized(.q4_1, Self.goldenInput)) == TestSupport.hex(golden))
        let y = Self.dequantized(.q4_1, golden)
        let d = Float(Float16(bitPattern: 0x3822))
        #expect(abs(d - 0.5166) < 1e-4)
        #expect(y[0] == -4.0)
        #expect(y[16] == Float(8) * d + -4.0)
        #expect(TestSupport.maxDifference(y, Self.goldenInput) <= d / 2 + 1e-6)
    }

    @Test("F32, F16 and BF16 byte patterns")
    func plainTypes() {
        #expect(Self.dequantized(.f32, TestSupport.bytes(hex: "0000803f 000000c0 da0f4940")) == [1.0, -2.0, 3.1415926])
        #expect(Self.dequantized(.f16, TestSupport.bytes(hex: "003c 00c0 ff7b 0004")) == [1.0, -2.0, 65504, 0.00006103515625])
        #expect(Self.dequantized(.bf16, TestSupport.bytes(hex: "803f 00c0 4940")) == [1.0, -2.0, 3.140625])
    }

    @Test("zero blocks quantize to zero scales without dividing by zero")
    func zeroBlocks() {
        let zeros = [Float](repeating: 0, count: 32)
        for type in [GGMLType.q8_0, .q4_0, .q4_1] {
            #expect(Self.dequantized(type, Self.quantized(type, zeros)) == zeros, "\(type.name)")
        }
    }

    @Test("quantize then dequantize stays within half a step on random data")
    func roundTripError() {
        var generator = SeededGenerator(seed: 7)
        let values = (0 ..< 32 * 64).map { _ in Float.random(in: -3 ..< 3, using: &generator) }
        for type in [GGMLType.q8_0, .q4_0, .q4_1] {
            let back = Self.dequantized(type, Self.quantized(type, values))
            for block in 0 ..< 64 {
                let slice = Array(values[32 * block ..< 32 * block + 32])
                let span = (slice.max() ?? 0) - (slice.min() ?? 0)
                let amax = slice.map(abs).max() ?? 0
                // Half a step from rounding, plus the effect of storing d (and m) as F16 (2^-11
                // relative); Q4_0 maps the largest magnitude to -8, so the other side can be a whole step off.
                let bound: Float
                switch type {
                case .q8_0: bound = amax / 127 * (0.5 + 128.0 / 2048)
                case .q4_0: bound = amax / 8 * (1 + 16.0 / 2048)
                default: bound = span / 15 * (0.5 + 16.0 / 2048) + amax / 2048
                }
                let error = TestSupport.maxDifference(Array(back[32 * block ..< 32 * block + 32]), slice)
                #expect(error <= bound + 1e-6, "\(type.name) block \(block): error \(error), bound \(bound)")
            }
        }
    }

    @Test("Q4_K and Q6_K match gguf-py's dequantizer exactly on random blocks", arguments: [GGMLType.q4_K, .q6_K, .q4_1, .q8_0, .q4_0])
    func kQuantsAgainstPython(type: GGMLType) throws {
        var generator = SeededGenerator(seed: UInt64(type.rawValue))
        let blocks = 24
        var bytes = (0 ..< blocks * type.typeSize).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        // Keep every f16 scale finite and modest: exponent field 8...15, so |d| is between 2^-7 and 2.
        let halfOffsets: [Int]
        switch type {
        case .q4_K: halfOffsets = [0, 2]
        case .q6_K: halfOffsets = [208]
        case .q4_1: halfOffsets = [0, 2]
        default: halfOffsets = [0]
        }
        for block in 0 ..< blocks {
            for offset in halfOffsets {
                bytes[block * type.typeSize + offset + 1] = 0x20 | (bytes[block * type.typeSize + offset + 1] & 0x1F) | (bytes[block * type.typeSize + offset + 1] & 0x80)
            }
        }
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("blocks.bin")
        try Data(bytes).write(to: url)
        let script = """
        import sys
        import numpy as np
        from gguf.quants import dequantize
        from gguf.constants import GGMLQuantizationType
        raw = np.fromfile(sys.argv[1], dtype=np.uint8)
        values = dequantize(raw, GGMLQuantizationType[sys.argv[2]]).astype(np.float32)
        sys.stdout.write(values.view(np.uint32).astype('<u4').tobytes().hex())
        """
        let output = try TestSupport.runPython(script, [url.path, type.name])
        let expectedBits = TestSupport.bytes(hex: output)
        let expected: [Float] = stride(from: 0, to: expectedBits.count, by: 4).map { i in
            Float(bitPattern: UInt32(expectedBits[i]) | UInt32(expectedBits[i + 1]) << 8 | UInt32(expectedBits[i + 2]) << 16 | UInt32(expectedBits[i + 3]) << 24)
        }
        let ours = Self.dequantized(type, bytes)
        #expect(ours.count == blocks * type.blockSize)
        #expect(expected.count == ours.count)
        let mismatches = zip(ours, expected).filter { $0.0.bitPattern != $0.1.bitPattern }.count
        #expect(mismatches == 0, "\(type.name): \(mismatches) values differ, largest difference \(TestSupport.maxDifference(ours, expected))")
    }

    @Test("the multi-core dequantizer equals the single-pass kernel", arguments: [GGMLType.q4_1, .q8_0, .q6_K, .q5_0, .q5_1, .q5_K, .f16])
    func parallelMatchesSerial(type: GGMLType) {
        var generator = SeededGenerator(seed: 99)
        let count = 3 * (1 << 20) + 7 * 256  // several chunks and a ragged tail
        let bytes = (0 ..< count / type.blockSize * type.typeSize).map { i -> UInt8 in
            // Zero every byte that could be an f16 high byte with an all-ones exponent (inf/NaN).
            let b = UInt8(truncatingIfNeeded: generator.next())
            return b & 0x7C == 0x7C ? b & 0x83 : b
        }
        var serial = [Float](repeating: 0, count: count)
        var parallel = [Float](repeating: 1, count: count)
        bytes.withUnsafeBytes { src in
            serial.withUnsafeMutableBufferPointer { _ = Dequantization.dequantize(type, src, into: $0) }
            parallel.withUnsafeMutableBufferPointer { Dequantization.dequantizeInParallel(type, src, into: $0) }
        }
        #expect(serial.elementsEqual(parallel) { $0.bitPattern == $1.bitPattern }, "\(type.name)")
    }
}
