// Gemma-3-270M's SentencePiece tokenizer, read from the fetched GGUF, against the ids
// transformers' GGUF tokenizer gives for the varied strings of gemma3/tokenization.json (made by
// scripts/make-gemma3-fixtures golden), and decoding back to the text.
import Checkpoints
import Foundation
import Models
import Testing

@Suite("Gemma-3 tokenizer")
struct Gemma3TokenizerTests {
    @Test("ids equal transformers' for every fixture string; decoding gives the text back",
          .enabled(if: Gemma3Fixture.realModelFetched, "Gemma-3-270M not fetched (scripts/fetch-model --model gemma3-270m)"))
    func referenceIDs() throws {
        let tokenizer = try SentencePieceTokenizer(gguf: GGUFFile(contentsOf: Gemma3Fixture.realModelURL))
        #expect(tokenizer.vocabularySize == 262_144 && tokenizer.bosTokenID == 2 && tokenizer.eosTokenID == 1 && tokenizer.addBOS)
        let cases = dictionaries(try Fixtures.json("gemma3/tokenization.json")["cases"])
        try #require(cases.count == 24)
        for entry in cases {
            let text = entry["text"] as? String ?? ""
            let ids = tokenizer.encode(text).map(Int.init)
            #expect(ids == ints(entry["ids"]), "\(text.debugDescription)")
            #expect(tokenizer.decode(tokenizer.encode(text)).hasSuffix(text) && tokenizer.decode(tokenizer.encode(text, addingBOS: false)) == text,
                    "\(text.debugDescription): decode")
        }
        // Control tokens are text when special tokens are not parsed.
        #expect(!tokenizer.encode("<start_of_turn>", parseSpecialTokens: false).contains(105))
        #expect(tokenizer.encode("<start_of_turn>", addingBOS: false) == [105] && tokenizer.isSpecial(105))
    }

    @Test("behind the common Tokenizer the GGUF gives the same ids without BOS, decodes them, and spans cover the text",
          .enabled(if: Gemma3Fixture.realModelFetched, "Gemma-3-270M not fetched (scripts/fetch-model --model gemma3-270m)"))
    func commonInterface() throws {
        let file = try GGUFFile(contentsOf: Gemma3Fixture.realModelURL)
        let tokenizer = try Tokenizer(gguf: file)
        #expect(tokenizer.algorithm == "SentencePiece BPE")
        #expect(tokenizer.vocabularySize == 262_144 && tokenizer.bosTokenID == 2 && tokenizer.eosTokenID == 1 && tokenizer.addBOS)
        #expect(tokenizer.isSpecial(105) && !tokenizer.isSpecial(9259))
        for entry in dictionaries(try Fixtures.json("gemma3/tokenization.json")["cases"]) {
            let text = entry["text"] as? String ?? ""
            let reference = ints(entry["ids"])
            let ids = tokenizer.encode(text)
            #expect(ids == (reference.first == 2 ? Array(reference.dropFirst()) : reference), "\(text.debugDescription)")
            #expect(tokenizer.decode(ids) == text, "\(text.debugDescription): decode")
            let tokens = tokenizer.encodeWithOffsets(text)
            #expect(tokens.map(\.id) == ids)
            let scalars = Array(text.unicodeScalars)
            // Consecutive spans, covering the text; each token's bytes decode to its span.
            #expect((tokens.first?.start ?? 0) == 0 && (tokens.last?.end ?? 0) == scalars.count, "\(text.debugDescription)")
            for (a, b) in zip(tokens, tokens.dropFirst()) { #expect(a.end == b.start, "\(text.debugDescription)") }
            for token in tokens {
                guard let piece = String(bytes: tokenizer.bytes(token.id), encoding: .utf8) else { continue }  // part of a character
                let span = String(String.UnicodeScalarView(scalars[token.start..<token.end]))
                #expect(span == piece, "\(text.debugDescription): token \(token.id) spans \(span.debugDescription)")
            }
        }
    }
}
