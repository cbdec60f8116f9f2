// Export of the default model (SmolLM2-135M-Instruct Q4_1 GGUF): the tokenizer.json generated from
// its GGUF metadata against the one transformers saves (fixture), and a GGUF copy with one edited
// tensor re-read value for value. Requires the default model (see TestSupport.swift).
import Checkpoints
import Foundation
import Models
import Tensors
import Testing

@Suite("Checkpoint export of SmolLM2")
struct CheckpointExportSmolLM2Tests {
    func smolGGUF() throws -> GGUFFile {
        let url = Fixtures.defaultModelURL
        guard FileManager.default.fileExists(atPath: url.path) else { throw FixtureError.missingModel(url.path) }
        return try GGUFFile(contentsOf: url)
    }

    @Test("tokenizer.json generated from the GGUF is the fixture's, and tokenizes every case identically")
    func tokenizerFromGGUF() throws {
        let gguf = try smolGGUF()
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let url = directory.appendingPathComponent("tokenizer.json")
        try CheckpointExport.tokenizerJSON(gguf: gguf).write(to: url)
        try CheckpointExport.tokenizerConfigJSON(gguf: gguf, contextLength: 8192)
            .write(to: directory.appendingPathComponent("tokenizer_config.json"))

        let generated = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? NSDictionary
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("smollm2/tokenizer.json"))) as? NSDictionary
        let mine = try #require(generated), theirs = try #require(fixture)
        for key in ["version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder"] {
            #expect(NSArray(object: mine[key] ?? NSNull()).isEqual(to: [theirs[key] ?? NSNull()]), "\(key) differs")
        }
        let myModel = try #require(mine["model"] as? NSDictionary), theirModel = try #require(theirs["model"] as? NSDictionary)
        #expect(myModel.isEqual(theirModel), "model (vocab, merges, flags) differs")
        #expect(mine.allKeys.count == theirs.allKeys.count)

        let tokenizer = try Tokenizer(tokenizerJSON: url)
        let reference = try TokenizerFixtures.smolLM2.get()
        let cases = try TokenizerFixtures.smolLM2Cases.get()
        #expect(cases.count == 45)
        for testCase in cases {
            #expect(tokenizer.encode(testCase.text) == testCase.ids, "\(testCase.name)")
            #expect(tokenizer.encode(testCase.text) == reference.encode(testCase.text), "\(testCase.name)")
            #expect(tokenizer.encode(testCase.text, parseSpecialTokens: false) == testCase.idsSpecialsAsText, "\(testCase.name)")
            #expect(tokenizer.decode(testCase.ids) == testCase.decode, "\(testCase.name)")
        }
        #expect(tokenizer.bosTokenID == 1 && tokenizer.eosTokenID == 2 && tokenizer.unknownTokenID == 0 && tokenizer.paddingTokenID == 2)
        #expect(tokenizer.addBOS == false)
    }

    @Test("GGUF copy with one edited tensor: that tensor as written, the 271 others and all metadata unchanged")
    func ggufCopy() throws {
        let gguf = try smolGGUF()
        let directory = try ExportTestSupport.temporaryDirectory()
        defer { ExportTestSupport.cleanUp(directory) }
        let name = "blk.4.ffn_down.weight"
        let info = try #require(gguf.tensor(named: name))
        let base = Matrix<Float>(rows: info.shape[0], cols: info.shape[1], values: try gguf.floats(for: info))
        let edited = ExportTestSupport.perturbed(base, seed: 31, scale: 0.05)
        let out = directory.appendingPathComponent("smol.gguf")
        let report = try CheckpointExport.writeGGUF(source: gguf, overrides: [name: edited], to: out)
        #expect(report.copiedTensorCount == 271)

        let written = try GGUFFile(contentsOf: out)
        #expect(written.metadata.count == gguf.metadata.count)
        for entry in gguf.metadata { #expect(written.value(forKey: entry.key) == entry.value, "\(entry.key)") }
        for original in gguf.tensors where original.name != name {
            let copy = try #require(written.tensor(named: original.name))
            #expect(copy.type == original.type && written.rawData(for: copy) == gguf.rawData(for: original), "\(original.name)")
        }
        let expected = edited.values.map { HalfPrecision.floatFromHalf(HalfPrecision.halfFromFloat($0)) }
        #expect(try written.floats(named: name) == expected)
        #expect(written.tensor(named: name)?.type == .f16)
        let size = { (url: URL) in (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0 }
        // Q4_1 (20 bytes / 32 values) became F16 (64 bytes / 32 values) for one 576 × 1536 tensor.
        #expect(try size(out) - size(gguf.url) == 576 * 1536 / 32 * 44)
    }
}
