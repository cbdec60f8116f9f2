// Parity of the tokenizer with the reference tokenizations in Tests/Fixtures (Hugging Face
// tokenizers with SmolLM2's corrected pre-tokenizer; the tiny trained BPE tokenizers), from
// tokenizer.json and from the default model's GGUF metadata.

import Checkpoints
import Foundation
import Models
import Testing

/// Flattens offsets as the fixtures write them ([[start, end]]) for comparison.
private func spans(_ tokens: [EncodedToken]) -> [[Int]] { tokens.map { [$0.start, $0.end] } }

@Suite("Tokenizer parity")
struct TokenizerTests {
    @Test("SmolLM2 tokenizer.json: roles and sizes")
    func smolLM2Roles() throws {
        let tokenizer = try TokenizerFixtures.smolLM2.get()
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.bosTokenID == 1)
        #expect(tokenizer.eosTokenID == 2)
        #expect(tokenizer.unknownTokenID == 0)
        #expect(tokenizer.paddingTokenID == 2)
        #expect(tokenizer.addBOS == false)
        #expect(tokenizer.preTokenizer == .smollm)
        #expect((0...16).allSatisfy(tokenizer.isSpecial))
        #expect(!tokenizer.isSpecial(17) && !tokenizer.isSpecial(-1) && !tokenizer.isSpecial(49152))
        #expect(tokenizer.piece(1) == "<|im_start|>")
        #expect(tokenizer.piece(260) == "Ġthe")
        #expect(tokenizer.id(forPiece: "Ġthe") == 260)
    }

    @Test("SmolLM2: all 45 cases, ids, pieces, offsets and decodes")
    func smolLM2Cases() throws {
        let tokenizer = try TokenizerFixtures.smolLM2.get()
        let cases = try TokenizerFixtures.smolLM2Cases.get()
        #expect(cases.count == 45)
        for c in cases {
            let encoded = tokenizer.encodeWithOffsets(c.text)
            #expect(encoded.map(\.id) == c.ids, "ids of case \(c.name)")
            #expect(tokenizer.encode(c.text) == c.ids, "encode of case \(c.name)")
            #expect(spans(encoded) == c.offsets, "offsets of case \(c.name)")
            #expect(c.ids.map(tokenizer.piece) == c.tokens, "pieces of case \(c.name)")
            #expect(c.ids.map { [0, 1, 2].contains($0) } == c.isSpecial, "fixture's special ids of case \(c.name)")
            #expect(tokenizer.decode(c.ids) == c.decode, "decode of case \(c.name)")
            #expect(tokenizer.decode(c.ids, skipSpecialTokens: true) == c.decodeSkipSpecial, "decode_skip_special of \(c.name)")
            #expect(tokenizer.encode(c.text, parseSpecialTokens: false) == c.idsSpecialsAsText, "ids_specials_as_text of \(c.name)")
            let asText = tokenizer.encodeWithOffsets(c.text, parseSpecialTokens: false)
            #expect(tokenizer.decode(asText.map(\.id)) == c.text, "round trip of \(c.name) with specials as text")
        }
    }

    @Test("SmolLM2: the 8 prompts of logits.json, with and without BOS, and their subjects' last tokens")
    func smolLM2Prompts() throws {
        let tokenizer = try TokenizerFixtures.smolLM2.get()
        let prompts = try TokenizerFixtures.decode(TokenizerFixtures.SmolLM2Logits.self, "smollm2/logits.json").prompts
        #expect(prompts.count == 8)
        var subjects = 0
        for prompt in prompts {
            let encoded = tokenizer.encodeWithOffsets(prompt.text)
            #expect(encoded.map(\.id) == prompt.ids, "ids of '\(prompt.text)'")
            #expect(spans(encoded) == prompt.offsets, "offsets of '\(prompt.text)'")
            #expect(prompt.ids.map(tokenizer.piece) == prompt.tokens, "pieces of '\(prompt.text)'")
            let bos = try #require(tokenizer.bosTokenID)
            #expect([bos] + tokenizer.encode(prompt.text) == prompt.withBOS.ids, "with_bos ids of '\(prompt.text)'")
            guard let subject = prompt.subject else { continue }
            // The last token whose span overlaps the subject's first occurrence (in code points).
            let text = Array(prompt.text.unicodeScalars)
            let needle = Array(subject.unicodeScalars)
            let start = try #require(text.indices.first { text[$0...].starts(with: needle) }, "subject of '\(prompt.text)'")
            let last = encoded.lastIndex { $0.start < start + needle.count && $0.end > start }
            #expect(last == prompt.subjectLastToken?.index, "subject_last_token of '\(prompt.text)'")
            subjects += 1
        }
        #expect(subjects == 5)
    }

    @Test("tiny-gpt2 and tiny-llama golden tokenizations and text sequences")
    func tinyGolden() throws {
        let tokenizer = try TokenizerFixtures.tiny.get()
        #expect(tokenizer.vocabularySize == 512)
        #expect(tokenizer.preTokenizer == .gpt2)
        #expect(tokenizer.bosTokenID == 0 && tokenizer.eosTokenID == 0 && tokenizer.unknownTokenID == 0)
        #expect(tokenizer.addBOS == false)
        for model in ["tiny-gpt2", "tiny-llama"] {
            let golden = try TokenizerFixtures.decode(TokenizerFixtures.TinyGolden.self, "\(model)/golden.json")
            #expect(golden.tokenization.count == 10)
            for c in golden.tokenization {
                let encoded = tokenizer.encodeWithOffsets(c.text)
                #expect(encoded.map(\.id) == c.ids, "\(model): ids of '\(c.text)'")
                #expect(spans(encoded) == c.offsets, "\(model): offsets of '\(c.text)'")
                #expect(c.ids.map(tokenizer.piece) == c.tokens, "\(model): pieces of '\(c.text)'")
                #expect(tokenizer.decode(c.ids) == c.decode, "\(model): decode of '\(c.text)'")
            }
            let texts = golden.sequences.compactMap { s in s.text.map { ($0, s.ids) } }
            #expect(texts.count == 2)
            for (text, ids) in texts {
                #expect(tokenizer.encode(text) == ids, "\(model): sequence '\(text)'")
            }
        }
    }

    @Test("tiny-facts-gpt2: prompt, target and new-target ids of every fact and paraphrase")
    func tinyFacts() throws {
        let tokenizer = try TokenizerFixtures.tinyFacts.get()
        #expect(tokenizer.vocabularySize == 1024)
        let golden = try TokenizerFixtures.decode(TokenizerFixtures.TinyFactsGolden.self, "tiny-facts-gpt2/golden.json")
        #expect(golden.perFact.count == 150)
        var checked = 0
        for fact in golden.perFact {
            for completion in [fact.rewrite] + fact.paraphrases {
                #expect(tokenizer.encode(completion.prompt) == completion.promptIDs, "case \(fact.caseID): '\(completion.prompt)'")
                #expect(tokenizer.encode(" " + completion.target) == completion.targetIDs, "case \(fact.caseID): ' \(completion.target)'")
                checked += 1
            }
        }
        #expect(checked == 450)
        let records = try TokenizerFixtures.decode([TokenizerFixtures.TinyFactRecord].self, "tiny-facts-gpt2/facts.json")
        let byCase = Dictionary(records.map { ($0.caseID, $0.requestedRewrite) }, uniquingKeysWith: { first, _ in first })
        for fact in golden.perFact {
            let rewrite = try #require(byCase[fact.caseID], "case \(fact.caseID) missing from facts.json")
            let prompt = rewrite.prompt.replacingOccurrences(of: "{}", with: rewrite.subject)
            #expect(prompt == fact.rewrite.prompt, "case \(fact.caseID): prompt template")
            #expect(tokenizer.encode(" " + rewrite.targetNew.str) == fact.targetNew.targetIDs, "case \(fact.caseID): target_new")
        }
        let texts = golden.sequences.compactMap { s in s.text.map { ($0, s.ids) } }
        #expect(texts.count == 4)
        for (text, ids) in texts {
            #expect(tokenizer.encode(text) == ids, "sequence '\(text)'")
        }
    }

    @Test("SmolLM2 GGUF metadata gives the tokenizer.json ids on every fixture case")
    func smolLM2GGUF() throws {
        let url = TokenizerFixtures.modelURL
        try #require(
            FileManager.default.fileExists(atPath: url.path),
            "default model missing at \(url.path) (set MLEDIT_MODEL or run make test, which fetches it)")
        let fromGGUF = try Tokenizer(gguf: GGUFFile(contentsOf: url))
        let fromJSON = try TokenizerFixtures.smolLM2.get()
        #expect(fromGGUF.vocabularySize == fromJSON.vocabularySize)
        #expect(fromGGUF.preTokenizer == .smollm)
        #expect(fromGGUF.bosTokenID == 1 && fromGGUF.eosTokenID == 2)
        #expect(fromGGUF.unknownTokenID == 0 && fromGGUF.paddingTokenID == 2)
        #expect(fromGGUF.addBOS == false)
        #expect((0..<fromJSON.vocabularySize).allSatisfy { fromGGUF.piece($0) == fromJSON.piece($0) })
        #expect((0..<fromJSON.vocabularySize).allSatisfy { fromGGUF.isSpecial($0) == fromJSON.isSpecial($0) })
        let cases = try TokenizerFixtures.smolLM2Cases.get()
        for c in cases {
            let encoded = fromGGUF.encodeWithOffsets(c.text)
            #expect(encoded.map(\.id) == c.ids, "GGUF ids of case \(c.name)")
            #expect(spans(encoded) == c.offsets, "GGUF offsets of case \(c.name)")
            #expect(fromGGUF.encode(c.text, parseSpecialTokens: false) == c.idsSpecialsAsText, "GGUF ids_specials_as_text of \(c.name)")
            #expect(fromGGUF.decode(c.ids) == c.decode, "GGUF decode of \(c.name)")
            #expect(fromGGUF.decode(c.ids, skipSpecialTokens: true) == c.decodeSkipSpecial, "GGUF decode_skip_special of \(c.name)")
        }
        let prompts = try TokenizerFixtures.decode(TokenizerFixtures.SmolLM2Logits.self, "smollm2/logits.json").prompts
        for prompt in prompts {
            #expect(fromGGUF.encode(prompt.text) == prompt.ids, "GGUF ids of '\(prompt.text)'")
        }
    }

    @Test("tiny GGUF files give the tokenizer.json ids")
    func tinyGGUF() throws {
        for (model, json) in [("tiny-gpt2", TokenizerFixtures.tiny), ("tiny-llama", TokenizerFixtures.tiny),
                              ("tiny-facts-gpt2", TokenizerFixtures.tinyFacts)] {
            let fromGGUF = try Tokenizer(gguf: GGUFFile(contentsOf: TokenizerFixtures.url("\(model)/model.gguf")))
            let fromJSON = try json.get()
            #expect(fromGGUF.vocabularySize == fromJSON.vocabularySize, "\(model)")
            #expect(fromGGUF.preTokenizer == .gpt2, "\(model)")
            #expect(fromGGUF.bosTokenID == 0 && fromGGUF.eosTokenID == 0 && !fromGGUF.addBOS, "\(model)")
            #expect(fromGGUF.isSpecial(0) && !fromGGUF.isSpecial(1), "\(model)")
            let texts = ["Hello world", "  two spaces", "It's 1969!", "café 😀", "<|endoftext|>after",
                         "The capital of Veloria is", "x  1\n\n2", "numbers 12345 and 3.14"]
            for text in texts {
                #expect(fromGGUF.encodeWithOffsets(text) == fromJSON.encodeWithOffsets(text), "\(model): '\(text)'")
            }
        }
    }
}
