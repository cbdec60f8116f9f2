// Broken safetensors files: each must give a one-line CheckpointError naming the file and the
// problem (with the byte offset where one applies), never a crash. These are the reference Rust
// reader's rules (FORMATS.md C.4).

import Foundation
import Testing
@testable import Checkpoints

@Suite("safetensors bad files")
struct SafetensorsBadFileTests {
    /// A file with `header` (padded to 8 with spaces) and `dataSize` zero bytes of data.
    static func file(_ header: String, dataSize: Int, pad: Bool = true) -> [UInt8] {
        var json = Array(header.utf8)
        if pad { json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8) }
        return TestSupport.le(UInt64(json.count)) + json + [UInt8](repeating: 0, count: dataSize)
    }

    static func expectError(_ bytes: [UInt8], containing fragments: [String]) throws {
        try SafetensorsTests.withFile(bytes) { url in
            do {
                _ = try SafetensorsFile(contentsOf: url)
                Issue.record("the file should have been rejected (\(fragments))")
            } catch let error as CheckpointError {
                let message = error.description
                #expect(!message.contains("\n"), "one line: \(message)")
                #expect(message.hasPrefix(url.path), "names the file: \(message)")
                for fragment in fragments {
                    #expect(message.contains(fragment), "'\(message)' should mention '\(fragment)'")
                }
            }
        }
    }

    static let one = #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    @Test("the well-formed base case opens")
    func baseline() throws {
        try SafetensorsTests.withFile(Self.file(Self.one, dataSize: 8)) { url in
            let values = try SafetensorsFile(contentsOf: url).floats(named: "t")
            #expect(values == [0, 0])
        }
    }

    @Test("a truncated file fails cleanly at every length")
    func truncated() throws {
        let golden = SafetensorsTests.golden
        for length in 0 ..< golden.count {
            try SafetensorsTests.withFile(Array(golden[0 ..< length])) { url in
                let error = TestSupport.checkpointError { _ = try SafetensorsFile(contentsOf: url) }
                let message = try #require(error?.description, "prefix of \(length) bytes was accepted")
                #expect(message.contains("byte offset") || message.contains("tensor '"), "\(length): \(message)")
            }
        }
        try Self.expectError([1, 2, 3], containing: ["truncated at byte offset 0", "header size needs 8 bytes, only 3 left"])
    }

    @Test("a header length larger than the file")
    func headerTooLong() throws {
        var bytes = Self.file(Self.one, dataSize: 8)
        bytes[1] = 0x10
        try Self.expectError(bytes, containing: ["header size", "is larger than the", "byte offset 0"])
        bytes = TestSupport.le(UInt64(200_000_000)) + [UInt8](repeating: 0x20, count: 16)
        try Self.expectError(bytes, containing: ["exceeds the limit"])
    }

    @Test("a tensor whose data runs past the end of the file")
    func dataPastEnd() throws {
        try Self.expectError(Self.file(Self.one, dataSize: 4), containing: ["tensor 't'", "runs past the end"])
    }

    @Test("extra bytes after the last tensor")
    func trailingBytes() throws {
        try Self.expectError(Self.file(Self.one, dataSize: 12), containing: ["buffer is 12 bytes but the tensors cover 8"])
    }

    @Test("overlapping and gapped data offsets")
    func badOffsets() throws {
        let overlap = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        try Self.expectError(Self.file(overlap, dataSize: 8), containing: ["tensor 'b'", "overlaps the previous tensor"])
        let gap = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        try Self.expectError(Self.file(gap, dataSize: 8), containing: ["tensor 'a'", "leaves a gap", "expected 0"])
        let backwards = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#
        try Self.expectError(Self.file(backwards, dataSize: 8), containing: ["end before they begin"])
    }

    @Test("a size that does not match the shape")
    func sizeMismatch() throws {
        let wrong = #"{"t":{"dtype":"F16","shape":[2,2],"data_offsets":[0,6]}}"#
        try Self.expectError(Self.file(wrong, dataSize: 6), containing: ["tensor 't'", "hold 6 bytes but F16 [2, 2] needs 8"])
        let huge = #"{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#
        try Self.expectError(Self.file(huge, dataSize: 8), containing: ["overflows"])
    }

    @Test("an unknown dtype")
    func unknownDType() throws {
        let bad = #"{"t":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}"#
        try Self.expectError(Self.file(bad, dataSize: 1), containing: ["tensor 't'", "unknown dtype 'F4'"])
    }

    @Test("malformed header JSON")
    func badJSON() throws {
        try Self.expectError(Self.file(" {}", dataSize: 0), containing: ["must start with '{'", "byte offset 8"])
        try Self.expectError(Self.file(#"{"a":}"#, dataSize: 0), containing: ["header JSON", "byte offset 13"])
        try Self.expectError(Self.file(#"{"t":1,"t":2}"#, dataSize: 0), containing: ["duplicate key 't'", "byte offset 15"])
        try Self.expectError(Self.file(#"{"__metadata__":{"k":1}}"#, dataSize: 0), containing: ["'__metadata__' value of 'k' is a number"])
        try Self.expectError(Self.file(#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#, dataSize: 0), containing: ["non-negative integers"])
        try Self.expectError(Self.file(#"{"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}}"#, dataSize: 0), containing: ["non-negative integers"])
        try Self.expectError(Self.file(#"{} x"#, dataSize: 0), containing: ["unexpected data after"])
    }

    @Test("a key that is not UTF-8")
    func badUTF8Key() throws {
        var bytes = Self.file(Self.one, dataSize: 8)
        bytes[8 + 2] = 0xFF  // the tensor name "t"
        try Self.expectError(bytes, containing: ["not valid UTF-8", "byte offset 9"])
    }

    @Test("no single corrupted byte crashes the reader")
    func corruptedBytes() throws {
        let golden = SafetensorsTests.golden
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("fuzz.safetensors")
        var rejected = 0
        for position in 0 ..< golden.count {
            for value: UInt8 in [0x00, 0x22, 0x5D, 0x7D, 0xFF] where golden[position] != value {
                var bytes = golden
                bytes[position] = value
                try TestSupport.write(bytes, to: url)
                do {
                    let file = try SafetensorsFile(contentsOf: url)
                    for tensor in file.tensors where [.f32, .f16, .bf16, .f64].contains(tensor.dtype) { _ = try file.floats(for: tensor) }
                } catch is CheckpointError {
                    rejected += 1
                }
            }
        }
        #expect(rejected > 400, "only \(rejected) corruptions were detected")
    }
}
