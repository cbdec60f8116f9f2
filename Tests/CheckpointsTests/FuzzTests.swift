// Seeded mutation fuzzing of the GGUF and safetensors readers, starting from the tiny-gpt2 and
// tiny-llama fixtures: every mutated file must open (and then serve every tensor it lists) or be
// rejected with a one-line CheckpointError naming the file — never trap, and never take longer
// than a small bound. `make test` runs a bounded number of cases; `make fuzz` sets
// MLEDIT_FUZZ_ITERATIONS for a long run. The mutations live in FuzzMutations.swift. Reproducers
// of what the fuzzing found are ordinary tests at the end of this file.

import Foundation
import Testing
import Tensors
@testable import Checkpoints

@Suite("Fuzz: checkpoint readers")
struct CheckpointFuzzTests {
    static let fixtures = ["tiny-gpt2", "tiny-llama"]

    /// What a reader did with one case.
    enum Outcome: Equatable {
        case accepted, rejected
        /// It misbehaved, as described.
        case wrong(String)
    }

    /// Runs `cases` cases of `make` through `open`, each under the watchdog, and fails the test
    /// with the first few bad verdicts (each naming its case, to replay with `make`).
    static func run(_ name: String, cases: Int, extension suffix: String,
                    make: (Int) -> [UInt8], open: (URL) throws -> Void) throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("case.\(suffix)")
        let watchdog = FuzzWatchdog()
        defer { watchdog.stop() }
        var failures: [String] = []
        var accepted = 0, slowest = 0.0
        let start = Date()
        for index in 0 ..< cases {
            let bytes = make(index)
            try TestSupport.write(bytes, to: url)
            let began = watchdog.begin("\(name) \(index) (seed \(FuzzBudget.seed))")
            let outcome = check(url, open: open)
            let elapsed = Date().timeIntervalSince(began)
            watchdog.end()
            slowest = max(slowest, elapsed)
            // Linear in the size: a megabyte of fixture is read in well under a second.
            let bound = 2 + Double(bytes.count) / 1_000_000
            if elapsed > bound { failures.append("case \(index): took \(elapsed) s for \(bytes.count) bytes") }
            switch outcome {
            case .accepted: accepted += 1
            case .rejected: break
            case .wrong(let problem): failures.append("case \(index): \(problem)")
            }
        }
        print("\(name): \(cases) cases in \(String(format: "%.1f", Date().timeIntervalSince(start))) s, \(accepted) accepted, slowest \(String(format: "%.3f", slowest)) s")
        let clean = failures.isEmpty
        #expect(clean, "\(failures.count) of \(cases) \(name) cases misbehaved; first: \(failures.prefix(5).joined(separator: " | "))")
    }

    /// Rejected only with a one-line CheckpointError that starts with the path.
    static func check(_ url: URL, open: (URL) throws -> Void) -> Outcome {
        do {
            try open(url)
            return .accepted
        } catch let error as CheckpointError {
            let message = error.description
            if message.contains("\n") || message.contains("\r") { return .wrong("message is not one line: \(message.debugDescription)") }
            if !message.hasPrefix(url.path + ":") { return .wrong("message does not name the file: \(message)") }
            return .rejected
        } catch {
            return .wrong("threw \(type(of: error)), not a CheckpointError: \(error)")
        }
    }

    static func fixture(_ name: String, _ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: TestSupport.fixtures.appendingPathComponent("\(name)/\(file)")))
    }

    // MARK: - GGUF

    /// Opens a GGUF file and reads every tensor it can convert, checking what it was promised.
    static func openGGUF(_ url: URL) throws {
        let file = try GGUFFile(contentsOf: url)
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? 0
        for entry in file.metadata { _ = file.value(forKey: entry.key) }
        for tensor in file.tensors {
            #expect(file.dataOffset + tensor.offset + tensor.byteCount <= size, "tensor \(tensor.name) was accepted past the end")
            #expect(file.rawData(for: tensor).count == tensor.byteCount)
            if tensor.type.canDequantize {
                #expect(try file.floats(for: tensor).count == tensor.elementCount)
            }
        }
    }

    /// Case `index`: one of the fixtures with one to four mutations, a third of them setting a
    /// header field to an extreme value.
    static func ggufCase(_ index: Int, bases: [([UInt8], GGUFFieldMap)], seed: UInt64 = FuzzBudget.seed) -> [UInt8] {
        var g = FuzzBudget.generator(case: index, seed: seed)
        let (base, map) = bases[index % bases.count]
        var bytes = base
        for _ in 0 ..< Int.random(in: 1 ... 4, using: &g) {
            if Int.random(in: 0 ..< 3, using: &g) == 0 {
                map.mutate(&bytes, &g)
            } else {
                ByteMutation.apply(&bytes, hot: 0 ..< map.headerEnd, &g)
            }
        }
        return bytes
    }

    static func ggufBases() throws -> [([UInt8], GGUFFieldMap)] {
        try fixtures.map { name in
            let bytes = try fixture(name, "model.gguf")
            return (bytes, GGUFFieldMap(bytes))
        }
    }

    @Test("GGUF: the field map of each fixture covers its header and the unmutated file opens")
    func ggufFieldMap() throws {
        for (bytes, map) in try Self.ggufBases() {
            #expect(map.headerEnd > 24 && map.headerEnd < bytes.count)
            for kind in [GGUFFieldMap.Kind.tensorCount, .metadataCount, .keyLength, .stringLength, .arrayCount, .rank, .dimension, .dataOffset] {
                #expect(!(map.fields[kind] ?? []).isEmpty, "no \(kind) fields found")
            }
            try SafetensorsTests.withFile(bytes, name: "base.gguf") { url in
                #expect(Self.check(url, open: Self.openGGUF) == .accepted)
            }
        }
    }

    @Test("GGUF: mutated fixtures open or fail with one line naming the file, within a time bound")
    func ggufMutations() throws {
        let bases = try Self.ggufBases()
        try Self.run("GGUF", cases: FuzzBudget.iterations(default: 10000), extension: "gguf",
                     make: { Self.ggufCase($0, bases: bases) }, open: Self.openGGUF)
    }

    // MARK: - safetensors

    static func openSafetensors(_ url: URL) throws {
        let file = try SafetensorsFile(contentsOf: url)
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? 0
        for tensor in file.tensors {
            #expect(file.bufferOffset + tensor.dataRange.upperBound <= size, "tensor \(tensor.name) was accepted past the end")
            #expect(file.rawData(for: tensor).count == tensor.dataRange.count)
            if [.f32, .f16, .bf16, .f64].contains(tensor.dtype) {
                #expect(try file.floats(for: tensor).count == tensor.elementCount)
            }
        }
    }

    /// Case `index`: a fixture whose header was edited one to three times (then written with a
    /// correct, or now and then an extreme, size field), sometimes with byte-level damage on top.
    static func safetensorsCase(_ index: Int, bases: [SafetensorsModel], seed: UInt64 = FuzzBudget.seed) -> [UInt8] {
        var g = FuzzBudget.generator(case: index, seed: seed)
        var model = bases[index % bases.count]
        for _ in 0 ..< Int.random(in: 1 ... 3, using: &g) { model.mutate(&g) }
        var bytes = model.bytes(pad: Int.random(in: 0 ..< 8, using: &g) != 0)
        let headerEnd = bytes.count - model.buffer.count
        if Int.random(in: 0 ..< 8, using: &g) == 0 {
            let original = ByteMutation.readLittleEndian(bytes, at: 0, width: 8)
            let value = ByteMutation.extremeValue(original: original, width: 8, fileSize: bytes.count, &g)
            ByteMutation.writeLittleEndian(value, width: 8, into: &bytes, at: 0)
        }
        if Int.random(in: 0 ..< 3, using: &g) == 0 {
            for _ in 0 ..< Int.random(in: 1 ... 3, using: &g) { ByteMutation.apply(&bytes, hot: 0 ..< headerEnd, &g) }
        }
        return bytes
    }

    static func safetensorsBases() throws -> [SafetensorsModel] {
        try fixtures.map { try #require(SafetensorsModel(try fixture($0, "model.safetensors"))) }
    }

    @Test("safetensors: the header model writes each fixture back to a file that opens with the same tensors")
    func safetensorsModelRoundTrip() throws {
        for (name, model) in zip(Self.fixtures, try Self.safetensorsBases()) {
            let original = try SafetensorsTests.withFile(try Self.fixture(name, "model.safetensors")) { try SafetensorsFile(contentsOf: $0).tensors }
            let rewritten = try SafetensorsTests.withFile(model.bytes()) { try SafetensorsFile(contentsOf: $0).tensors }
            #expect(rewritten == original)
        }
    }

    @Test("safetensors: mutated fixtures open or fail with one line naming the file, within a time bound")
    func safetensorsMutations() throws {
        let bases = try Self.safetensorsBases()
        try Self.run("safetensors", cases: FuzzBudget.iterations(default: 10000), extension: "safetensors",
                     make: { Self.safetensorsCase($0, bases: bases) }, open: Self.openSafetensors)
    }

    // MARK: - Reproducers

    @Test("safetensors: data offsets near Int.max past the end of the file are rejected, not an overflow trap")
    func offsetsNearIntMax() throws {
        // Found by safetensorsMutations: each tensor is self-consistent and they tile from 0, so
        // only the end-of-file check fails, and its message once added the offset to the header end.
        let n = Int.max - 8
        let header = #"{"a":{"dtype":"U8","shape":[\#(n)],"data_offsets":[0,\#(n)]},"b":{"dtype":"F32","shape":[2],"data_offsets":[\#(n),\#(Int.max)]}}"#
        try SafetensorsBadFileTests.expectError(SafetensorsBadFileTests.file(header, dataSize: 16),
                                                containing: ["tensor 'b'", "buffer offset \(n) runs past the end", "needs \(Int.max)"])
    }

    @Test("names and keys with control characters are escaped, so that messages stay one line")
    func controlCharactersInNames() throws {
        // Found by both mutation tests: a byte set to 0x0A inside a key, and "a\nb" as a tensor name.
        var duplicate = TestSupport.bytes(hex: "47475546 03000000") + TestSupport.le(UInt64(0)) + TestSupport.le(UInt64(2))
        for _ in 0 ..< 2 { duplicate += TestSupport.ggufString("k\nv\r\u{0}") + TestSupport.le(UInt32(0)) + [1] }
        try GGUFBadFileTests.expectError(duplicate, containing: [#"duplicate metadata key 'k\nv\r\0'"#])
        let header = #"{"a\nb":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#
        try SafetensorsBadFileTests.expectError(SafetensorsBadFileTests.file(header, dataSize: 4),
                                                containing: [#"tensor 'a\nb': unknown dtype 'F33'"#])
    }
}
