// Broken GGUF files: each must give a one-line CheckpointError naming the file and the problem
// (with the byte offset where one applies), never a crash.

import Foundation
import Testing
@testable import Checkpoints

@Suite("GGUF bad files")
struct GGUFBadFileTests {
    /// Writes `bytes`, opens them and returns the error message (nil if the file opened).
    static func openError(_ bytes: [UInt8], name: String = "bad.gguf") throws -> (String, String)? {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent(name)
        try TestSupport.write(bytes, to: url)
        do {
            _ = try GGUFFile(contentsOf: url)
            return nil
        } catch let error as CheckpointError {
            let message = error.description
            #expect(!message.contains("\n"), "error must be one line: \(message)")
            #expect(message.hasPrefix(url.path), "error must name the file: \(message)")
            return (message, url.path)
        }
    }

    static func expectError(_ bytes: [UInt8], containing fragments: [String]) throws {
        let result = try openError(bytes)
        let message = try #require(result?.0, "the file should have been rejected")
        for fragment in fragments {
            #expect(message.contains(fragment), "'\(message)' should mention '\(fragment)'")
        }
    }

    /// The golden header with a second F32 tensor "b" of 8 elements at `secondOffset`.
    static func twoTensors(secondOffset: UInt64) -> [UInt8] {
        var b: [UInt8] = TestSupport.bytes(hex: "47475546 03000000") + TestSupport.le(UInt64(2)) + TestSupport.le(UInt64(0))
        b += TestSupport.ggufString("a") + TestSupport.le(UInt32(1)) + TestSupport.le(UInt64(8)) + TestSupport.le(UInt32(0)) + TestSupport.le(UInt64(0))
        b += TestSupport.ggufString("b") + TestSupport.le(UInt32(1)) + TestSupport.le(UInt64(8)) + TestSupport.le(UInt32(0)) + TestSupport.le(secondOffset)
        b += [UInt8](repeating: 0, count: 96 - b.count)  // data section starts at align(90, 32) = 96
        b += [UInt8](repeating: 0, count: 64)
        return b
    }

    @Test("a truncated file fails cleanly at every length")
    func truncated() throws {
        for length in 0 ..< GGUFGolden.bytes.count - 8 {
            let result = try Self.openError(Array(GGUFGolden.bytes[0 ..< length]))
            let message = try #require(result?.0, "prefix of \(length) bytes was accepted")
            #expect(message.contains("byte offset"), "\(length) bytes: \(message)")
        }
        try Self.expectError(Array(GGUFGolden.bytes[0 ..< 73]), containing: ["truncated at byte offset 69", "metadata key length needs 8 bytes, only 4 left"])
    }

    @Test("a wrong magic")
    func wrongMagic() throws {
        var bytes = GGUFGolden.bytes
        bytes[0] = UInt8(ascii: "X")
        try Self.expectError(bytes, containing: ["wrong magic", "byte offset 0", "58 47 55 46"])
    }

    @Test("version 1 and unknown versions are rejected")
    func badVersion() throws {
        for version: UInt8 in [1, 4] {
            var bytes = GGUFGolden.bytes
            bytes[GGUFGolden.versionOffset] = version
            try Self.expectError(bytes, containing: ["unsupported version \(version)", "byte offset 4"])
        }
    }

    @Test("a tensor whose data runs past the end of the file")
    func dataPastEnd() throws {
        var bytes = GGUFGolden.bytes
        bytes[GGUFGolden.tensorInfoOffset + 8 + 17 + 4 + 8] = 200  // dims [3, 200]
        try Self.expectError(bytes, containing: ["tensor 'token_embd.weight'", "runs past the end", "byte offset 160"])
    }

    @Test("an unknown tensor type")
    func unknownType() throws {
        for type: UInt8 in [4, 5, 31, 200] {
            var bytes = GGUFGolden.bytes
            bytes[GGUFGolden.tensorTypeOffset] = type
            try Self.expectError(bytes, containing: ["unknown ggml type \(type)", "byte offset \(GGUFGolden.tensorTypeOffset)"])
        }
    }

    @Test("a block type whose first dimension is not a multiple of the block size")
    func partialBlock() throws {
        var bytes = GGUFGolden.bytes
        bytes[GGUFGolden.tensorTypeOffset] = 8  // Q8_0 with dims [3, 2]
        try Self.expectError(bytes, containing: ["not a multiple of the Q8_0 block size 32"])
    }

    @Test("misaligned, overlapping and gapped tensor offsets")
    func badOffsets() throws {
        #expect(try Self.openError(Self.twoTensors(secondOffset: 32)) == nil, "the well-formed variant must open")
        let fieldOffset = 24 + (9 + 4 + 8 + 4 + 8) + (9 + 4 + 8 + 4)
        try Self.expectError(Self.twoTensors(secondOffset: 40), containing: ["not a multiple of the alignment 32", "byte offset \(fieldOffset)"])
        try Self.expectError(Self.twoTensors(secondOffset: 0), containing: ["overlaps the previous tensor", "byte offset \(fieldOffset)"])
        try Self.expectError(Self.twoTensors(secondOffset: 64), containing: ["leaves a gap", "expected 32"])
    }

    @Test("a metadata key that is not UTF-8")
    func badUTF8Key() throws {
        var bytes = GGUFGolden.bytes
        bytes[0x18 + 8] = 0xFF  // first byte of "general.architecture"
        try Self.expectError(bytes, containing: ["metadata key is not valid UTF-8", "byte offset 32"])
    }

    @Test("a bool that is neither 0 nor 1")
    func badBool() throws {
        var bytes = GGUFGolden.bytes
        bytes[GGUFGolden.blockCountTypeOffset] = 7  // llama.block_count becomes a bool ...
        bytes[GGUFGolden.blockCountTypeOffset + 4] = 2  // ... whose byte is 2
        try Self.expectError(bytes, containing: ["bool value of key 'llama.block_count' is 2", "byte offset \(GGUFGolden.blockCountTypeOffset + 4)"])
    }

    @Test("an unknown metadata value type")
    func unknownValueType() throws {
        var bytes = GGUFGolden.bytes
        bytes[GGUFGolden.blockCountTypeOffset] = 13
        try Self.expectError(bytes, containing: ["unknown value type 13", "byte offset \(GGUFGolden.blockCountTypeOffset)"])
    }

    @Test("counts too large for the file")
    func hugeCounts() throws {
        var bytes = GGUFGolden.bytes
        bytes[8 + 6] = 0xFF  // tensor count
        try Self.expectError(bytes, containing: ["tensor count", "byte offset 8"])
        bytes = GGUFGolden.bytes
        bytes[16 + 7] = 0x7F  // metadata count
        try Self.expectError(bytes, containing: ["metadata count", "byte offset 16"])
        bytes = GGUFGolden.bytes
        bytes[0x18 + 5] = 0x01  // key length 2^40 + 20
        try Self.expectError(bytes, containing: ["metadata key length", "exceeds 1 GiB", "byte offset 24"])
    }

    @Test("general.alignment must be a power-of-two UINT32")
    func badAlignment() throws {
        func file(_ type: UInt32, _ value: [UInt8]) -> [UInt8] {
            TestSupport.bytes(hex: "47475546 03000000") + TestSupport.le(UInt64(0)) + TestSupport.le(UInt64(1))
                + TestSupport.ggufString("general.alignment") + TestSupport.le(type) + value
        }
        try Self.expectError(file(4, TestSupport.le(UInt32(48))), containing: ["48, not a non-zero power of two"])
        try Self.expectError(file(4, TestSupport.le(UInt32(0))), containing: ["not a non-zero power of two"])
        try Self.expectError(file(10, TestSupport.le(UInt64(32))), containing: ["must be UINT32, found UINT64"])
        #expect(try Self.openError(file(4, TestSupport.le(UInt32(64)))) == nil)
    }

    @Test("duplicate keys and tensor names, long names, too many dimensions")
    func duplicates() throws {
        var dup = TestSupport.bytes(hex: "47475546 03000000") + TestSupport.le(UInt64(0)) + TestSupport.le(UInt64(2))
        for _ in 0 ..< 2 { dup += TestSupport.ggufString("k.v") + TestSupport.le(UInt32(0)) + [1] }
        try Self.expectError(dup, containing: ["duplicate metadata key 'k.v'", "byte offset 40"])

        var names = TestSupport.bytes(hex: "47475546 03000000") + TestSupport.le(UInt64(2)) + TestSupport.le(UInt64(0))
        for _ in 0 ..< 2 { names += TestSupport.ggufString("t") + TestSupport.le(UInt32(1)) + TestSupport.le(UInt64(1)) + TestSupport.le(UInt32(0)) + TestSupport.le(UInt64(0)) }
        names += [UInt8](repeating: 0, count: 64)
        try Self.expectError(names, containing: ["duplicate tensor name 't'"])

        let long = String(repeating: "x", count: 64)
        var longName = TestSupport.bytes(hex: "47475546 03000000") + TestSupport.le(UInt64(1)) + TestSupport.le(UInt64(0))
        longName += TestSupport.ggufString(long) + TestSupport.le(UInt32(1)) + TestSupport.le(UInt64(1)) + TestSupport.le(UInt32(0)) + TestSupport.le(UInt64(0))
        longName += [UInt8](repeating: 0, count: 64)
        try Self.expectError(longName, containing: ["is 64 bytes; it must be shorter than 64"])

        var rank = GGUFGolden.bytes
        rank[GGUFGolden.tensorInfoOffset + 8 + 17] = 5
        try Self.expectError(rank, containing: ["has 5 dimensions"])
    }

    @Test("no single corrupted byte crashes the reader")
    func corruptedBytes() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("fuzz.gguf")
        var rejected = 0
        for position in 0 ..< GGUFGolden.dataOffset {
            for value: UInt8 in [0x00, 0x01, 0x7F, 0x80, 0xFF] where GGUFGolden.bytes[position] != value {
                var bytes = GGUFGolden.bytes
                bytes[position] = value
                try TestSupport.write(bytes, to: url)
                do {
                    let file = try GGUFFile(contentsOf: url)
                    for tensor in file.tensors where tensor.type.canDequantize { _ = try file.floats(for: tensor) }
                } catch let error as CheckpointError {
                    rejected += 1
                    #expect(!error.description.contains("\n"))
                }
            }
        }
        #expect(rejected > 300, "only \(rejected) corruptions were detected")
    }

    @Test("a missing file")
    func missingFile() throws {
        let url = URL(fileURLWithPath: "/nonexistent/mledit/none.gguf")
        let error = TestSupport.checkpointError { _ = try GGUFFile(contentsOf: url) }
        let message = try #require(error?.description)
        #expect(message.hasPrefix(url.path + ": cannot read"))
    }
}
