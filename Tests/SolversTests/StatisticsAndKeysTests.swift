// Preservation statistics, corpus reading, subject positions, context prefixes and target values
// on the tiny-facts-gpt2 fixture: C0 against the naive mean of outer products, determinism,
// serialization, and the errors of each.
import Foundation
import Models
import Tensors
import Testing
@testable import Solvers

func temporaryFile(_ name: String, _ bytes: [UInt8]) throws -> String {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("mledit-solvers-\(ProcessInfo.processInfo.processIdentifier)-\(name)")
    try Data(bytes).write(to: url)
    return url.path
}

@Suite("Statistics, keys and target values", .serialized)
struct StatisticsAndKeysTests {
    @Test("C0 is the mean outer product of the keys, deterministic, and survives its blob")
    func statistics() throws {
        let (model, tokenizer) = try SolverFixtures.tinyFactsModel()
        let corpus = try SolverFixtures.tinyFactsCorpus()
        let layers = [0, 2]
        let collect = {
            try StatisticsCollector.collect(model: model, tokenizer: tokenizer, corpus: try CorpusReader(paths: [corpus.path]),
                                            layers: layers, tokenCount: 700, sequenceLength: 24, batchTokens: 200)
        }
        let stats = try collect()
        let again = try collect()
        // The same sequences, keys taken one token at a time.
        var stream = TokenStream(corpus: try CorpusReader(paths: [corpus.path]), tokenizer: tokenizer, sequenceLength: 24)
        var sequences: [[Int]] = []
        var count = 0
        while count < 700, let sequence = try stream.next() {
            let take = Array(sequence.prefix(700 - count))
            sequences.append(take)
            count += take.count
        }
        #expect(count == 700)
        let keys = model.keysAtAllPositions(prompts: sequences, layers: layers)
        for layer in layers {
            let block = try #require(keys[layer])
            let d = block.cols
            // Every 8th row and column of C0, from per-token outer products.
            let sample = Array(stride(from: 3, to: d, by: 8))
            var naive = Matrix<Double>(rows: sample.count, cols: sample.count)
            var computed = naive
            for t in 0..<block.rows {
                for (a, i) in sample.enumerated() {
                    for (b, j) in sample.enumerated() { naive[a, b] += Double(block[t, i]) * Double(block[t, j]) / 700 }
                }
            }
            let c0 = try #require(stats[layer])
            for (a, i) in sample.enumerated() { for (b, j) in sample.enumerated() { computed[a, b] = c0.moment[i, j] } }
            #expect(c0.tokenCount == 700)
            let scale = naive.values.map { abs($0) }.max() ?? 1
            let difference = computed.maxAbsDifference(naive) / scale
            // The keys are Float32 from two batch layouts, which BLAS kernels may round differently in
            // the last bits, and pieces of up to 512 rows are summed in Float32 before the Float64 total.
            #expect(difference < 1e-5, "layer \(layer): largest relative difference \(difference)")
            #expect(again[layer] == c0, "layer \(layer) differs between two runs")
            let restored = try LayerStatistics(layer: layer, tokenCount: 700, dimension: d, blob: c0.blob)
            #expect(restored == c0)
            #expect(throws: SolverError.self) {
                try LayerStatistics(layer: layer, tokenCount: 700, dimension: d, blob: c0.blob.dropLast(8))
            }
        }
        let tooSmall = solverError {
            _ = try StatisticsCollector.collect(model: model, tokenizer: tokenizer, corpus: try CorpusReader(paths: [corpus.path]),
                                                layers: [0], tokenCount: 10_000_000, sequenceLength: 64, batchTokens: 1_000_000)
        }
        guard case .corpusTooSmall(let available, 10_000_000)? = tooSmall else {
            Issue.record("expected corpusTooSmall, got \(String(describing: tooSmall))")
            return
        }
        #expect(available > 700 && available < 100_000)
    }

    @Test("corpus files: paragraphs, JSONL text, and errors with file and line")
    func corpusReader() throws {
        let text = try temporaryFile("plain.txt", Array("First paragraph\nstill first.\n\n\nSecond.\n".utf8))
        var reader = try CorpusReader(paths: [text])
        #expect(try reader.nextDocument() == "First paragraph\nstill first.\n\n")
        #expect(try reader.nextDocument() == "Second.\n\n")
        #expect(try reader.nextDocument() == nil)
        let jsonl = try temporaryFile("docs.jsonl", Array("{\"text\": \"One.\"}\n\n{\"text\": \"Two.\"}\n{\"body\": 1}\n".utf8))
        let good = try temporaryFile("good.jsonl", Array("{\"text\": \"One.\"}\n\n{\"text\": \"Two.\"}\n".utf8))
        var documents = try CorpusReader(paths: [good, text])
        #expect(try documents.nextDocument() == "One.\n\n")
        #expect(try documents.nextDocument() == "Two.\n\n")
        #expect(try documents.nextDocument() == "First paragraph\nstill first.\n\n")
        // A file is checked whole before its first document is handed out.
        var lines = try CorpusReader(paths: [jsonl])
        #expect(throws: SolverError.corpus(file: jsonl, line: 4, reason: "not a JSON object with a string 'text'")) {
            _ = try lines.nextDocument()
        }
        let bad = try temporaryFile("bad.txt", Array("ok\nfine\n".utf8) + [0xC3, 0x28, 0x0A])
        var broken = try CorpusReader(paths: [bad])
        #expect(throws: SolverError.corpus(file: bad, line: 3, reason: "not valid UTF-8")) { _ = try broken.nextDocument() }
        #expect(throws: SolverError.self) { _ = try CorpusReader(paths: ["/nonexistent/corpus.txt"]) }
    }

    @Test("the subject's last token comes from offsets, after any prefix")
    func subjectPosition() throws {
        let (_, tokenizer) = try SolverFixtures.tinyFactsModel()
        let request = EditRequest(subject: "Tilea Gropaendic", prompt: "{} works as a", targetNew: "baker")
        let bare = try FactTokenization.prompt(request, tokenizer: tokenizer)
        #expect(tokenizer.decode([bare.ids[bare.subjectPosition]]) == " Gropaendic")
        #expect(tokenizer.decode(Array(bare.ids[...bare.subjectPosition])) == "Tilea Gropaendic")
        let prefixed = try FactTokenization.prompt(request, prefix: "Tilea Gropaendic is here. ", tokenizer: tokenizer)
        #expect(tokenizer.decode(Array(prefixed.ids[...prefixed.subjectPosition])) == "Tilea Gropaendic is here. Tilea Gropaendic")
        let middle = EditRequest(subject: "Brazothia", prompt: "The capital of {} is", targetNew: "Gouvur")
        let inside = try FactTokenization.prompt(middle, prefix: "Because. ", tokenizer: tokenizer)
        #expect(tokenizer.decode(Array(inside.ids[...inside.subjectPosition])) == "Because. The capital of Brazothia")
        #expect(try FactTokenization.target("Gouvur", label: "x", tokenizer: tokenizer) == tokenizer.encode(" Gouvur"))
    }

    @Test("context prefixes are sampled reproducibly from a seed")
    func prefixes() throws {
        let (model, tokenizer) = try SolverFixtures.tinyFactsModel()
        let a = ContextPrefixSampler.sample(model: model, tokenizer: tokenizer, count: 6, length: 6, topK: 5, seed: 7)
        let b = ContextPrefixSampler.sample(model: model, tokenizer: tokenizer, count: 6, length: 6, topK: 5, seed: 7)
        let c = ContextPrefixSampler.sample(model: model, tokenizer: tokenizer, count: 6, length: 6, topK: 5, seed: 8)
        #expect(a == b)
        #expect(a != c)
        #expect(a.count == 6 && a.allSatisfy { $0.hasSuffix(". ") && $0.count > 2 && !$0.contains("{") })
        #expect(a[0].hasPrefix("The") && a[1].hasPrefix("Therefore"))
        for prefix in a {
            let tokens = tokenizer.encode(String(prefix.dropLast(2)))
            #expect(tokens.count <= 8, "prefix \(prefix) has \(tokens.count) tokens")
        }
    }

    @Test("target values make the new target top-1 within the clamp")
    func targetValues() throws {
        let (model, tokenizer) = try SolverFixtures.tinyFactsModel()
        let facts = try SolverFixtures.tinyFacts()
        var h = EditHyperparameters.defaults(for: model.configuration, method: .memit)
        h.clampNormFactor = 4
        for request in facts.prefix(3) {
            let value = try TargetValueOptimizer.optimize(model: model, tokenizer: tokenizer, request: request,
                                                          prefixes: ["Because. "], layer: 1, hyperparameters: h)
            let deltaNorm = value.delta.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let baseNorm = value.base.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(value.allTop1 || value.loss < h.vLossThreshold, "\(request.label): NLL \(value.negativeLogLikelihood)")
            #expect(deltaNorm <= h.clampNormFactor * baseNorm * (1 + 1e-5) && deltaNorm > 0)
            #expect(value.steps <= h.vSteps)
            let z = zip(value.base, value.delta).map { $0 + $1 }
            #expect(zip(z, value.target).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
        }
    }
}
