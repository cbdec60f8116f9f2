// The tiny family fixtures as llama.cpp's converter lays them out in GGUF (scripts/make-gguf-fixtures:
// Mistral and Llama-3 as llama with interleaved Q/K rows and rope_freqs.weight, qwen2, phi3 with
// its fused attn_qkv and ffn_up, gptj) against the same weights in the Hugging Face folder:
// configuration, logits at every position, greedy tokens and transformers' golden values; a GGUF
// export with an edited ffn_down that keeps every other tensor's bytes; Hugging Face exports of
// the GGUFs; and the refusal of what a GGUF cannot be exported as.
import Checkpoints
import Foundation
import Models
import Tensors
import Testing

@Suite("Model family GGUF parity")
struct FamilyGGUFParityTests {
    static let families = ["tiny-mistral", "tiny-llama3", "tiny-qwen2", "tiny-phi3", "tiny-gptj"]

    static func gguf(_ folder: String) -> URL { Fixtures.url(folder + "/model.gguf") }

    static func prompts(_ folder: String) throws -> [[String: Any]] {
        dictionaries(try Fixtures.json(folder + "/golden.json")["sequences"])
    }

    /// llama.cpp's converter's divisors for Llama-3 scaling, in its float32 frequencies.
    static func converterDivisors(_ p: Llama3RopeParameters, dimensions: Int, theta: Float) -> [Float] {
        (0..<(dimensions / 2)).map { i in
            let frequency = Double(1 / Foundation.pow(theta, Float(2 * i) / Float(dimensions)))
            let wavelength = 2 * Double.pi / frequency
            let original = Double(p.originalContextLength)
            if wavelength < original / p.highFrequencyFactor { return 1 }
            if wavelength > original / p.lowFrequencyFactor { return Float(p.factor) }
            let smooth = (original / wavelength - p.lowFrequencyFactor) / (p.highFrequencyFactor - p.lowFrequencyFactor)
            return Float(1 / ((1 - smooth) / p.factor + smooth))
        }
    }

    @Test("the GGUF loads to the folder's configuration (Mistral without the family name, Llama-3 with the converter's divisors)",
          arguments: families)
    func configuration(folder: String) throws {
        let fromGGUF = try ModelConfiguration(gguf: GGUFFile(contentsOf: Self.gguf(folder)))
        var fromFolder = try ModelConfiguration(huggingFaceJSON: Data(contentsOf: Fixtures.url(folder + "/config.json")), file: "config.json")
        switch folder {
        case "tiny-mistral":
            // llama.cpp writes Mistral as general.architecture llama: only the window tells it.
            #expect(fromFolder.family == .mistral && fromGGUF.family == nil && fromGGUF.slidingWindow == 4)
            fromFolder.family = nil
        case "tiny-llama3":
            guard case let .llama3(parameters) = fromFolder.ropeScaling, case let .frequencyDivisors(divisors) = fromGGUF.ropeScaling else {
                Issue.record("tiny-llama3: expected llama3 parameters from config.json and divisors from the GGUF, found \(String(describing: fromFolder.ropeScaling)) and \(String(describing: fromGGUF.ropeScaling))")
                return
            }
            let expected = Self.converterDivisors(parameters, dimensions: fromFolder.headDimension, theta: fromFolder.ropeTheta)
            #expect(divisors == expected, "rope_freqs.weight \(divisors), converter's divisors \(expected)")
            #expect(Set(divisors).count == 4, "divisors in all three bands and two in between: \(divisors)")
            fromFolder.ropeScaling = fromGGUF.ropeScaling
        default:
            break
        }
        #expect(fromGGUF == fromFolder)
    }

    @Test("the GGUF gives the folder's logits at every position and its greedy tokens, and transformers' golden values",
          arguments: families)
    func logits(folder: String) throws {
        let fromGGUF = try ModelLoader.load(url: Self.gguf(folder))
        let fromFolder = try ModelLoader.load(url: Fixtures.url(folder))
        for (index, sequence) in try Self.prompts(folder).enumerated() {
            let ids = ints(sequence["ids"])
            let ggufLogits = fromGGUF.logits(prompt: ids)
            let difference = maxAbsDifference(ggufLogits.values.map(Double.init), fromFolder.logits(prompt: ids).values.map(Double.init))
            #expect(difference < 1e-4, "\(folder) sequence \(index): max |Δlogit| GGUF vs safetensors \(difference)")

            let topIDs = (sequence["top_ids"] as? [Any] ?? []).map { ints($0) }
            let topLogits = (sequence["top_logits"] as? [Any] ?? []).map { doubles($0) }
            try #require(topIDs.count == ids.count && topLogits.count == ids.count)
            var goldenError = 0.0
            for t in 0..<ids.count {
                let row = rowDoubles(ggufLogits, t)
                goldenError = max(goldenError, maxAbsDifference(topIDs[t].map { row[$0] }, topLogits[t]))
                goldenError = max(goldenError, abs((row.max() ?? .nan) - topLogits[t][0]))
            }
            #expect(goldenError < 1e-4, "\(folder) sequence \(index): max |Δ top logit| GGUF vs transformers \(goldenError)")

            let expected = ints(sequence["greedy"])
            let sampling = SamplingOptions(stopTokenIDs: [])
            #expect(fromGGUF.generate(prompt: ids, maxNewTokens: expected.count, sampling: sampling).tokens == expected,
                    "\(folder) sequence \(index): greedy tokens from the GGUF")
        }
    }

    @Test("a GGUF export with an edited ffn_down keeps every other tensor byte for byte and reloads to the edited logits",
          arguments: families)
    func ggufExport(folder: String) throws {
        let sourceURL = Self.gguf(folder)
        let source = try GGUFFile(contentsOf: sourceURL)
        let model = try ModelLoader.load(url: sourceURL)
        let layer = model.configuration.layerCount - 1
        let edited = TensorNaming.mlpOutputWeight(layer: layer)
        var weight = model.mlpOutputWeight(layer: layer)
        for i in stride(from: 0, to: weight.values.count, by: 5) { weight.values[i] -= 0.04 }
        model.setMLPOutputWeight(layer: layer, weight)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-family-gguf-\(UUID().uuidString).gguf")
        defer { try? FileManager.default.removeItem(at: out) }
        let report = try CheckpointExport.writeGGUF(source: source, overrides: [edited: weight], precision: .f32, to: out)
        #expect(report.replacedTensors.map(\.name) == [edited] && report.copiedTensorCount == source.tensors.count - 1)

        let written = try GGUFFile(contentsOf: out)
        #expect(written.tensors.map(\.name) == source.tensors.map(\.name))
        for info in source.tensors where info.name != edited {
            let copy = try #require(written.tensor(named: info.name))
            #expect(copy.dimensions == info.dimensions && copy.type == info.type && written.rawData(for: copy) == source.rawData(for: info),
                    "\(folder): \(info.name) is not the source's bytes")
        }
        let reloaded = try ModelLoader.load(url: out)
        #expect(reloaded.configuration == model.configuration)
        let prompt = ints(try Self.prompts(folder).first?["ids"])
        let difference = maxAbsDifference(model.logits(prompt: prompt).values.map(Double.init),
                                          reloaded.logits(prompt: prompt).values.map(Double.init))
        #expect(difference < 1e-5, "\(folder): max |Δlogit| edited vs reloaded GGUF export \(difference)")
        let moved = maxAbsDifference(try ModelLoader.load(url: sourceURL).logits(prompt: prompt).values.map(Double.init),
                                     reloaded.logits(prompt: prompt).values.map(Double.init))
        #expect(moved > 1e-3, "\(folder): the edit reached the export (max |Δlogit| vs the source \(moved))")
    }

    @Test("a Hugging Face export of the GGUF writes the folder's tensor names and reloads to the GGUF's logits",
          arguments: ["tiny-qwen2", "tiny-phi3", "tiny-gptj"])
    func huggingFaceExport(folder: String) throws {
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-family-gguf-hf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: destination) }
        let report = try CheckpointExport.writeHuggingFace(source: Self.gguf(folder), to: destination)
        let folderNames = try SafetensorsNames.names(Fixtures.url(folder + "/model.safetensors"))
        #expect(Set(report.tensorNames) == folderNames, "\(folder): export writes the Hugging Face names")
        let fromGGUF = try ModelLoader.load(url: Self.gguf(folder))
        let reloaded = try ModelLoader.load(url: destination)
        #expect(reloaded.configuration == fromGGUF.configuration)
        let prompt = ints(try Self.prompts(folder).first?["ids"])
        let difference = maxAbsDifference(fromGGUF.logits(prompt: prompt).values.map(Double.init),
                                          reloaded.logits(prompt: prompt).values.map(Double.init))
        #expect(difference < 1e-5, "\(folder): max |Δlogit| GGUF vs its Hugging Face export \(difference)")
    }

    @Test("RoPE frequency divisors cannot go into a Hugging Face config.json: the export is refused in one line")
    func divisorsRefusedForHuggingFace() throws {
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-family-gguf-hf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: destination) }
        do {
            try CheckpointExport.writeHuggingFace(source: Self.gguf("tiny-llama3"), to: destination)
            Issue.record("exported, expected a refusal naming rope_freqs.weight")
        } catch let error as ModelError {
            guard case .unsupportedFeature = error else {
                Issue.record("expected unsupportedFeature, got \(error)")
                return
            }
            #expect(error.description.hasPrefix("model.gguf: ") && error.description.contains("rope_freqs.weight")
                    && !error.description.contains("\n"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: destination.path))
    }

    @Test("GPT-J and Phi-3 GGUF metadata the runtime cannot honour is refused in one line naming file and key")
    func metadataRefusals() throws {
        func edited(_ folder: String, _ change: (inout [GGUFMetadataEntry]) -> Void) throws -> GGUFFile {
            let source = try GGUFFile(contentsOf: Self.gguf(folder))
            var metadata = source.metadata
            change(&metadata)
            var writer = GGUFWriter(alignment: source.alignment)
            for entry in metadata { writer.addMetadata(entry.key, entry.value) }
            for info in source.tensors {
                try writer.addRawTensor(name: info.name, dimensions: info.dimensions, type: info.type, data: source.rawData(for: info))
            }
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-family-\(UUID().uuidString).gguf")
            defer { try? FileManager.default.removeItem(at: url) }
            try writer.write(to: url)
            return try GGUFFile(contentsOf: url)
        }
        func replacing(_ key: String, with value: GGUFValue?) -> (inout [GGUFMetadataEntry]) -> Void {
            { metadata in
                metadata.removeAll { $0.key == key }
                if let value { metadata.append(GGUFMetadataEntry(key: key, value: value)) }
            }
        }
        let wide = try edited("tiny-gptj", replacing("gptj.rope.dimension_count", with: .uint32(32)))
        #expect(throws: ModelError.invalidValue(file: wide.url.lastPathComponent, key: "gptj.rope.dimension_count",
                                                reason: "must be even, positive and at most the head size 16, found 32")) {
            try ModelConfiguration(gguf: wide)
        }
        let unrotated = try edited("tiny-gptj", replacing("gptj.rope.dimension_count", with: nil))
        #expect(throws: ModelError.missingKey(file: unrotated.url.lastPathComponent, key: "gptj.rope.dimension_count")) {
            try ModelConfiguration(gguf: unrotated)
        }
        let partial = try edited("tiny-phi3", replacing("phi3.rope.dimension_count", with: .uint32(8)))
        #expect(throws: ModelError.unsupportedFeature(file: partial.url.lastPathComponent,
                                                      feature: "partial rotary embedding (phi3.rope.dimension_count 8, head size 16)")) {
            try ModelConfiguration(gguf: partial)
        }
    }
}
