// Dequantization against gguf-py's reference, bit for bit, for every block type mledit reads: the
// raw blocks and expected Float32 values come from Tests/Fixtures/quant/blocks.json (written by
// scripts/make-quant-fixtures, which records the gguf version), so these tests need no Python.
// Also checks that GGUF files holding those types load through the same kernels, and that a
// tensor which is not whole blocks is refused. Not a test of the quantizers (QuantizationTests).

import Foundation
import Testing
@testable import Checkpoints

@Suite("Dequantization parity with gguf-py")
struct DequantizationParityTests {
    /// Tests/Fixtures/quant/blocks.json.
    struct Fixture: Decodable {
        struct Case: Decodable {
            /// The ggml type name ("Q5_K").
            let type: String
            /// "quantized" (gguf quantized Float32 data) or "random" (random bytes, finite scales).
            let kind: String
            /// The blocks, base64.
            let raw: String
            /// gguf's dequantized values, little-endian Float32, base64.
            let expectedF32LE: String

            enum CodingKeys: String, CodingKey {
                case type, kind, raw
                case expectedF32LE = "expected_f32le"
            }
        }

        let ggufVersion: String
        let cases: [Case]

        enum CodingKeys: String, CodingKey {
            case ggufVersion = "gguf_version"
            case cases
        }
    }

    /// A decoded case: the blocks and the values gguf-py gives for them.
    struct ReferenceBlocks {
        let kind: String
        let raw: [UInt8]
        let expected: [Float]
    }

    static let fixtureURL = TestSupport.fixtures.appendingPathComponent("quant/blocks.json")

    static func fixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixtureURL))
    }

    /// The fixture's cases of `type`, decoded.
    static func cases(of type: GGMLType) throws -> [ReferenceBlocks] {
        try fixture().cases.filter { $0.type == type.name }.map { entry in
            let raw = try #require(Data(base64Encoded: entry.raw), "\(type.name) \(entry.kind): raw is not base64")
            let bits = try #require(Data(base64Encoded: entry.expectedF32LE), "\(type.name) \(entry.kind): expected values are not base64")
            try #require(bits.count % 4 == 0)
            let expected = stride(from: 0, to: bits.count, by: 4).map { i in
                Float(bitPattern: bits[bits.startIndex + i ..< bits.startIndex + i + 4].reversed()
                    .reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            }
            return ReferenceBlocks(kind: entry.kind, raw: [UInt8](raw), expected: expected)
        }
    }

    /// Every block type (block size above 1) that `Dequantization` converts.
    static let blockTypes = GGMLType.allCases.filter { $0.canDequantize && $0.blockSize > 1 }

    /// Number of positions where the bit patterns differ, with the first such position.
    static func mismatches(_ ours: [Float], _ expected: [Float]) -> (count: Int, first: Int?) {
        let differing = zip(ours, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        return (differing.count, differing.first?.offset)
    }

    @Test("the fixture names its gguf version and covers every block type mledit dequantizes")
    func coverage() throws {
        let fixture = try Self.fixture()
        #expect(!fixture.ggufVersion.isEmpty)
        #expect(Set(fixture.cases.map(\.type)) == Set(Self.blockTypes.map(\.name)))
        #expect(Set(Self.blockTypes) == [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K])
        for type in Self.blockTypes {
            #expect(try Self.cases(of: type).contains { $0.kind == "random" }, "\(type.name) needs a random-bytes case")
        }
    }

    @Test("the kernels equal gguf-py's dequantizer bit for bit", arguments: blockTypes)
    func kernelMatchesReference(type: GGMLType) throws {
        let cases = try Self.cases(of: type)
        try #require(!cases.isEmpty, "no \(type.name) blocks in the fixture")
        for reference in cases {
            try #require(reference.raw.count % type.typeSize == 0, "\(type.name) \(reference.kind): not whole blocks")
            try #require(reference.expected.count == reference.raw.count / type.typeSize * type.blockSize)
            let ours = QuantizationTests.dequantized(type, reference.raw)
            let (count, first) = Self.mismatches(ours, reference.expected)
            #expect(count == 0, """
                \(type.name) \(reference.kind): \(count) of \(ours.count) values differ, first at \(first ?? -1) \
                (\(first.map { "\(ours[$0]) vs \(reference.expected[$0])" } ?? "")), \
                largest difference \(TestSupport.maxDifference(ours, reference.expected))
                """)
        }
    }

    @Test("a GGUF file of each block type loads to gguf-py's values", arguments: blockTypes)
    func ggufFileLoads(type: GGMLType) throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases = try Self.cases(of: type)
        var writer = GGUFWriter()
        writer.addMetadata("general.architecture", .string("llama"))
        writer.addMetadata("general.quantization_version", .uint32(2))
        for (index, reference) in cases.enumerated() {
            // Rows of one block each, so the second dimension counts blocks.
            let blocks = reference.raw.count / type.typeSize
            try writer.addRawTensor(name: "t\(index)", dimensions: [type.blockSize, blocks], type: type, data: Data(reference.raw))
        }
        let url = directory.appendingPathComponent("\(type.name).gguf")
        try writer.write(to: url)
        let file = try GGUFFile(contentsOf: url)
        for (index, reference) in cases.enumerated() {
            let tensor = try #require(file.tensor(named: "t\(index)"))
            #expect(tensor.type == type)
            let values = try file.floats(for: tensor)
            #expect(Self.mismatches(values, reference.expected).count == 0, "\(type.name) \(reference.kind) through GGUFFile")
        }
    }

    @Test("a tensor that is not whole blocks is refused by the reader and the writer", arguments: [GGMLType.q5_0, .q5_1, .q5_K])
    func partialBlocksRefused(type: GGMLType) throws {
        var bytes = GGUFGolden.bytes
        bytes[GGUFGolden.tensorTypeOffset] = UInt8(type.rawValue)  // dims [3, 2]: 3 is not a whole block
        try GGUFBadFileTests.expectError(bytes, containing: ["tensor 'token_embd.weight'", "not a multiple of the \(type.name) block size \(type.blockSize)"])

        func message(_ body: () throws -> Void) -> String { TestSupport.checkpointError(body)?.description ?? "(no error)" }
        var writer = GGUFWriter()
        let short = Data(count: type.typeSize - 1)
        #expect(message { try writer.addRawTensor(name: "b", dimensions: [type.blockSize], type: type, data: short) }
            .contains("\(type.typeSize - 1) bytes given, \(type.name) [\(type.blockSize)] needs \(type.typeSize)"))
        #expect(message { try writer.addRawTensor(name: "b", dimensions: [type.blockSize / 2], type: type, data: short) }
            .contains("whole \(type.name) blocks"))
    }
}
